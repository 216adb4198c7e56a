package capfd

import (
	"errors"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Rights follow the objects a path reaches (rights/pair.go): through a Dir
// with rights p, the Dir's own directory holds p.Base and everything
// beneath it p.Inherit. An operation on "x/a" is decided on x and a, as if
// x had been opened first.
//
// Where the two halves agree (Base == Inherit, the common case) the name
// does not matter and a check is a mask. Otherwise what a path reaches
// must be known, and the name says it only for a single plain component
// ("a": an entry of the Dir's own directory) or "." (the directory
// itself). Any other path ("x/a", "x/..", "l/a" with l a symlink, or a
// followed final symlink) is placed by identity instead (place.go): a
// local Dir places itself (placedLocal), with the same code that places a
// broker client's grants, so one implementation decides and acts on what
// it decided; a remote Dir leaves the decision to the broker, which serves
// a local Dir and so places it the same way.

// where says what a path reaches relative to the Dir it is resolved
// through.
type where struct {
	// self: the path names the Dir's own directory; nothing is looked
	// up, and its entry lies outside the Dir.
	self bool
	// beneath: the directory holding the final entry lies beneath the
	// Dir's own directory.
	beneath bool
}

// lexicalWhere returns where path's objects are, as far as its name
// says: sure for "." and for a single plain component (an entry of the
// Dir's own directory). A followed single name may be a symlink to
// anywhere beneath, "." included: a local Dir whose halves differ places
// it (placedLocal); a remote Dir's early check takes it for an entry
// beneath, which it nearly always is, and the broker places it exactly.
func lexicalWhere(path string) (w where, sure bool) {
	p := strings.TrimRight(path, "/")
	for strings.HasPrefix(p, "./") {
		p = strings.TrimLeft(p[2:], "/")
	}
	switch {
	case p == "" || p == ".":
		return where{self: true}, true
	case p == "..":
		// Beneath refuses it; no rights decide anything.
		return where{}, true
	case strings.Contains(p, "/"):
		return where{}, false
	}
	return where{}, true
}

// rightsAt returns what p gives each operand of a request at w.
func rightsAt(p rights.Pair, w where, operand vfsops.Operand) rights.Rights {
	switch operand {
	case vfsops.OnHandle:
		return p.Base
	case vfsops.OnObject:
		return p.Object(w.self)
	}
	if w.self {
		// "." looks nothing up: an operation on it is the operation on
		// the handle itself (stat "." is fstat). The kernel refuses every
		// entry operation on it (mkdir EEXIST, rmdir EINVAL, rename
		// EBUSY); with the Dir's base rights it gives its own errno, as
		// os.Root does.
		return p.Base | rights.Lookup
	}
	return p.Dir(!w.beneath)
}

// check refuses req on path unless d's rights hold what req needs of the
// operands d plays: role (the directory operand d is for this path:
// OnDir, OnSourceDir or OnTargetDir), the path's object when role is
// OnDir, and d itself for OnHandle. A local Dir whose halves differ places
// every path first (placedLocal) and gets here only with single names.
func (d *Dir) check(opName string, req vfsops.Request, role vfsops.Operand, path string) error {
	w, sure := lexicalWhere(path)
	if req.Op == vfsops.OpOpen && req.Flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		// O_TMPFILE makes its file in the directory path names: that
		// directory is the one that gains it, and the file lies beneath.
		w = where{beneath: !w.self}
	}
	if alt, ok := typeUnknown(req); ok {
		// A read-mode open needs read of a file and readdir of a
		// directory, and which it is shows only once it is open
		// (openTyped): refuse here only what neither allows.
		if err := d.check(opName, alt, role, path); err == nil {
			return nil
		}
	}
	for _, n := range req.Needs() {
		if n.Operand != role && n.Operand != vfsops.OnHandle && (role != vfsops.OnDir || n.Operand != vfsops.OnObject) {
			continue
		}
		have := rightsAt(d.rights, w, n.Operand)
		if !sure {
			// Where the name does not say, refuse here only what no
			// place could allow; the placement (placedLocal, or the
			// broker for a remote Dir) decides the rest.
			have = d.rights.Base | d.rights.Inherit
		}
		if !have.Has(n.Rights) {
			if n.Operand == vfsops.OnObject && !w.self {
				return notGrantable(opName, path, n.Rights, have)
			}
			return notCapable(opName, path, n.Rights, have)
		}
	}
	return nil
}

// typeUnknown returns, for an open whose rights depend on whether its
// object is a directory (a read-mode open without O_DIRECTORY), the same
// open of a directory.
func typeUnknown(req vfsops.Request) (vfsops.Request, bool) {
	if !req.DependsOnType() {
		return req, false
	}
	alt := req
	alt.IsDir = true
	return alt, true
}

// openTyped checks, after an open that typeUnknown says depends on its
// object's type, that have (the rights of the object opened) holds what an
// open of that type needs; otherwise it closes h and refuses. A reader of
// files may not list a directory by opening it O_RDONLY, nor a lister read
// a file.
func openTyped(t transport, h handleID, opName, path string, flags int, have rights.Rights) error {
	if _, ok := typeUnknown(openRequest(flags)); !ok {
		return nil
	}
	if have.Has(rights.Read | rights.Readdir) {
		return nil
	}
	st, err := t.Fstat(h)
	if err != nil {
		t.Close(h)
		return pathError(opName, path, err)
	}
	need := vfsops.Request{Op: vfsops.OpOpen, Flags: flags, IsDir: st.Mode&unix.S_IFMT == unix.S_IFDIR}.On(vfsops.OnObject)
	if !have.Has(need) {
		t.Close(h)
		return notGrantable(opName, path, need, have)
	}
	return nil
}

// objectCeiling is the rights a file opened at path through d may carry:
// what its object holds (Base for "." itself, Inherit beneath).
func (d *Dir) objectCeiling(path string, flags int) rights.Rights {
	if flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		return d.rights.Inherit // the new file lies beneath the directory named
	}
	w, _ := lexicalWhere(path)
	return rightsAt(d.rights, w, vfsops.OnObject)
}

// asOp names err's operation opName: a Dir method made of a placed
// handle's calls reports under its own name.
func asOp(opName string, err error) error {
	var ce *Error
	var pe *fs.PathError
	switch {
	case errors.As(err, &ce):
		ce.Op = opName
	case errors.As(err, &pe):
		pe.Op = opName
	}
	return err
}

// placedLocal reports whether d places its own path operations
// (place.go, Dir.selfPlacement): d is local and its halves differ.
func (d *Dir) placedLocal() bool {
	return d.t == local && d.rights.Base != d.rights.Inherit
}
