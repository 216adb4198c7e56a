package differential

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Action is what a case does, spelled once for every backend: the C helper
// gets it as argv (Argv), the Go backends translate Kind to their API.
// Paths are relative to the case's handle: the grant's directory, or the
// nested grant's for the nested shape.
type Action struct {
	Kind        string // open, fd, stat, lstat, chmod, chown, utimens, truncate, readlink, mkdir, unlink, rmdir, symlink, rename, link
	Flags       string // open flags, as op.c spells them ("wronly|trunc")
	Path, Path2 string // Path2: the new name of rename and link, the link's name of symlink
	Target      string // symlink: the link's text
	Mode        uint32 // chmod
	FdOp        string // fd: the operation on the opened descriptor
	RenameFlags string // rename: none, noreplace, exchange
}

// OpenFlags returns a's open flags as an int (O_CLOEXEC left out).
func (a Action) OpenFlags() int {
	f := 0
	for _, tok := range strings.Split(a.Flags, "|") {
		f |= openFlag[tok]
	}
	return f
}

var openFlag = map[string]int{
	"rdonly": unix.O_RDONLY, "wronly": unix.O_WRONLY, "rdwr": unix.O_RDWR, "accmode": unix.O_ACCMODE,
	"append": unix.O_APPEND, "trunc": unix.O_TRUNC, "creat": unix.O_CREAT, "excl": unix.O_EXCL,
	"path": unix.O_PATH, "directory": unix.O_DIRECTORY, "tmpfile": unix.O_TMPFILE,
}

// RenameFlag returns a's renameat2 flags.
func (a Action) RenameFlag() uint {
	switch a.RenameFlags {
	case "noreplace":
		return unix.RENAME_NOREPLACE
	case "exchange":
		return unix.RENAME_EXCHANGE
	}
	return 0
}

// Argv is a as op.c's arguments, its paths made absolute under dir (the
// case's handle directory).
func (a Action) Argv(dir string) []string {
	abs := func(p string) string {
		if p == "." {
			return dir
		}
		return dir + "/" + p
	}
	switch a.Kind {
	case "open":
		return []string{"open", a.Flags, abs(a.Path)}
	case "fd":
		return []string{"fd", a.Flags, abs(a.Path), a.FdOp}
	case "chmod":
		return []string{"chmod", abs(a.Path), fmt.Sprintf("%o", a.Mode)}
	case "symlink":
		return []string{"symlink", a.Target, abs(a.Path2)}
	case "rename":
		return []string{"rename", abs(a.Path), abs(a.Path2), a.RenameFlags}
	case "link":
		return []string{"link", abs(a.Path), abs(a.Path2)}
	}
	return []string{a.Kind, abs(a.Path)}
}

// Case is one operation, on one shape, under one rights variant.
type Case struct {
	Name    string // op/shape/variant: what gap patterns match
	Op      string // the case's operation ("open-trunc", "rename-over", "fd-pwrite")
	Shape   string
	Variant string // "full", "base-RIGHT", "inherit-RIGHT"
	Removed rights.Rights
	Action  Action
	// Requests are what the action asks of the model, in order (an fd case
	// opens, then acts on the descriptor); all must be allowed.
	Requests []vfsops.Request
	// Own says, per operand, whether it is the handle's own directory
	// (rights.Pair.Dir and Object take Base) or lies beneath (Inherit).
	Own map[vfsops.Operand]bool
	// Outer is the grant on the fixture's root; Inner, for the nested
	// shape, the grant on its n/ directory, through which the case acts.
	Outer, Inner rights.Pair
	Nested       bool
	// Effect checks the filesystem after an allowed action; nil means the
	// action changes nothing a snapshot sees.
	Effect effect
}

// Pair is the pair of the handle the case acts through.
func (c *Case) Pair() rights.Pair {
	if c.Nested {
		return c.Inner
	}
	return c.Outer
}

// HandleDir is the case's handle directory relative to the fixture root.
func (c *Case) HandleDir() string {
	if c.Nested {
		return "n"
	}
	return "."
}

// Have is what each operand holds under the case's pair, by the model.
func (c *Case) Have() map[vfsops.Operand]rights.Rights {
	p := c.Pair()
	dir := p.Dir(c.Own[vfsops.OnDir])
	if c.Own[vfsops.OnObject] && c.Own[vfsops.OnDir] {
		// The grant's own directory ("."): nothing is looked up, an
		// operation on it is the one on the handle (stat "." is fstat).
		dir = p.Base | rights.Lookup
	}
	return map[vfsops.Operand]rights.Rights{
		vfsops.OnDir:       dir,
		vfsops.OnSourceDir: p.Dir(c.Own[vfsops.OnSourceDir]),
		vfsops.OnTargetDir: p.Dir(c.Own[vfsops.OnTargetDir]),
		vfsops.OnObject:    p.Object(c.Own[vfsops.OnObject]),
		// A descriptor opened through the handle holds what the object
		// it names holds (capfd.Dir.OpenFile: Inherit beneath).
		vfsops.OnHandle: p.Object(c.Own[vfsops.OnObject]),
	}
}

// Missing is what the model says the case lacks: none means allowed.
func (c *Case) Missing() rights.Rights {
	have := c.Have()
	var m rights.Rights
	for _, r := range c.Requests {
		m |= r.Missing(have)
	}
	return m
}

// Needed is every right some request of the case needs on some operand:
// the rights whose removal the variants try.
func (c *Case) Needed() rights.Rights {
	var n rights.Rights
	for _, r := range c.Requests {
		for _, req := range r.Needs() {
			n |= req.Rights
		}
	}
	return n
}

// shape is where a case's objects lie relative to its handle.
type shape struct {
	name   string
	nested bool   // act through the nested grant on n/
	prefix string // directory of the entries, relative to the handle
	dirOwn bool   // that directory is the handle's own
}

var (
	depth1 = shape{name: "depth1", dirOwn: true}
	depth2 = shape{name: "depth2", prefix: "sub/"}
	nested = shape{name: "nested", nested: true, dirOwn: true}
	// The remaining shapes name their objects themselves (see spec.build).
	symlinkShape = shape{name: "symlink"} // through ls -> sub/f
	rootShape    = shape{name: "root", dirOwn: true}
	cross        = shape{name: "cross"} // f -> sub/...: base source, inherit target
)

// spec is one operation of the matrix; build makes its action, requests,
// operand ownership and effect for a shape.
type spec struct {
	name   string
	op     vfsops.Op // the op table entry it exercises (the fd op for fd cases)
	shapes []shape
	build  func(s shape) built
}

type built struct {
	action   Action
	requests []vfsops.Request
	own      map[vfsops.Operand]bool
	effect   effect
}

// fixtureRel returns p, relative to the handle of shape s, relative to the
// fixture root instead (what effects look at).
func fixtureRel(s shape, p string) string {
	if s.nested {
		return "n/" + p
	}
	return p
}

// objectOf gives the usual ownership: the entry's directory per the shape,
// the object beneath it.
func objectOf(s shape) map[vfsops.Operand]bool {
	return map[vfsops.Operand]bool{vfsops.OnDir: s.dirOwn, vfsops.OnObject: false}
}

// onFile is the common shape of an operation on the file f: its path for
// each shape (the symlink shape reaches sub/f through ls, the root shape
// is the grant's own directory).
func onFile(s shape, file, dir string) (path string, own map[vfsops.Operand]bool, rel string) {
	switch s.name {
	case "symlink":
		return "ls", map[vfsops.Operand]bool{vfsops.OnDir: false, vfsops.OnObject: false}, "sub/f"
	case "root":
		return ".", map[vfsops.Operand]bool{vfsops.OnDir: true, vfsops.OnObject: true}, "."
	}
	name := file
	if dir != "" {
		name = dir
	}
	return s.prefix + name, objectOf(s), fixtureRel(s, s.prefix+name)
}

var fileShapes = []shape{depth1, depth2, symlinkShape, nested}
var entryShapes = []shape{depth1, depth2, nested}

// openSpec is an open of a file (dir false) or directory with flags.
func openSpec(name, flags string, isDir bool, shapes []shape, eff func(rel string) effect) spec {
	a := Action{Kind: "open", Flags: flags}
	return spec{name: name, op: vfsops.OpOpen, shapes: shapes, build: func(s shape) built {
		obj := "f"
		if isDir {
			obj = "e"
		}
		path, own, rel := onFile(s, obj, "")
		if isDir && s.name != "root" {
			path, own, rel = s.prefix+"e", objectOf(s), fixtureRel(s, s.prefix+"e")
		}
		a := a
		a.Path = path
		b := built{action: a, own: own, requests: []vfsops.Request{{Op: vfsops.OpOpen, Flags: a.OpenFlags(), IsDir: isDir}}}
		if eff != nil {
			b.effect = eff(rel)
		}
		return b
	}}
}

// pathSpec is an operation on an existing object by path.
func pathSpec(name string, op vfsops.Op, shapes []shape, obj string, a Action, eff func(rel string) effect) spec {
	return spec{name: name, op: op, shapes: shapes, build: func(s shape) built {
		path, own, rel := onFile(s, obj, "")
		if obj == "ls" && s.name != "root" {
			// The link itself, not what it names.
			path, own, rel = s.prefix+"ls", objectOf(s), fixtureRel(s, s.prefix+"ls")
		}
		a := a
		a.Path = path
		if a.Kind == "chmod" && s.name == "root" {
			a.Mode = 0o700
		}
		b := built{action: a, own: own, requests: []vfsops.Request{{Op: op, KeepsOwner: op == vfsops.OpChown && chownKeepsOwner}}}
		if eff != nil {
			b.effect = eff(rel)
		}
		return b
	}}
}

// entrySpec is an operation that changes the entries of a directory.
func entrySpec(name string, op vfsops.Op, a Action, eff func(s shape) effect) spec {
	return spec{name: name, op: op, shapes: entryShapes, build: func(s shape) built {
		a := a
		if a.Path != "" {
			a.Path = s.prefix + a.Path
		}
		if a.Path2 != "" {
			a.Path2 = s.prefix + a.Path2
		}
		return built{action: a, own: map[vfsops.Operand]bool{vfsops.OnDir: s.dirOwn}, requests: []vfsops.Request{{Op: op}}, effect: eff(s)}
	}}
}

// twoDirSpec is rename or link from src to dst: in one directory for the
// entry shapes, from the root to sub/ for the cross shape.
func twoDirSpec(name string, op vfsops.Op, a Action, req vfsops.Request, src, dst string, eff func(src, dst string) effect) spec {
	return spec{name: name, op: op, shapes: append(append([]shape{}, entryShapes...), cross), build: func(s shape) built {
		a := a
		own := map[vfsops.Operand]bool{vfsops.OnSourceDir: s.dirOwn, vfsops.OnTargetDir: s.dirOwn}
		a.Path, a.Path2 = s.prefix+src, s.prefix+dst
		if s.name == "cross" {
			a.Path, a.Path2 = src, "sub/"+dst
			own = map[vfsops.Operand]bool{vfsops.OnSourceDir: true, vfsops.OnTargetDir: false}
		}
		return built{action: a, own: own, requests: []vfsops.Request{req}, effect: eff(fixtureRel(s, a.Path), fixtureRel(s, a.Path2))}
	}}
}

// fdSpec opens the file (or, for readdir, the directory e) with flags and
// does fdop on the descriptor.
func fdSpec(fdop string, op vfsops.Op, flags string, eff func(rel string) effect) spec {
	return spec{name: "fd-" + fdop, op: op, shapes: entryShapes, build: func(s shape) built {
		obj, isDir := "f", false
		if fdop == "readdir" {
			obj, isDir = "e", true
		}
		a := Action{Kind: "fd", Flags: flags, Path: s.prefix + obj, FdOp: fdop}
		b := built{action: a, own: objectOf(s), requests: []vfsops.Request{
			{Op: vfsops.OpOpen, Flags: a.OpenFlags(), IsDir: isDir},
			{Op: op, KeepsOwner: op == vfsops.OpFchown && chownKeepsOwner},
		}}
		if eff != nil {
			b.effect = eff(fixtureRel(s, a.Path))
		}
		return b
	}}
}

// specs is the operation matrix.
func specs() []spec {
	withRoot := append(append([]shape{}, fileShapes...), rootShape)
	renameReq := func(flags string, replaces bool) vfsops.Request {
		return vfsops.Request{Op: vfsops.OpRename, Flags: int(Action{RenameFlags: flags}.RenameFlag()), Replaces: replaces}
	}
	return []spec{
		openSpec("open-rdonly", "rdonly", false, fileShapes, nil),
		openSpec("open-rdonly-dir", "rdonly", true, []shape{depth1, depth2, nested, rootShape}, nil),
		openSpec("open-wronly", "wronly", false, fileShapes, nil),
		openSpec("open-rdwr", "rdwr", false, fileShapes, nil),
		openSpec("open-append", "wronly|append", false, fileShapes, nil),
		openSpec("open-trunc", "wronly|trunc", false, fileShapes, func(rel string) effect { return sizeIs(rel, 0) }),
		openSpec("open-path", "path", false, withRoot, nil),
		openSpec("open-accmode", "accmode", false, fileShapes, nil),
		{name: "open-creat", op: vfsops.OpOpen, shapes: entryShapes, build: func(s shape) built {
			a := Action{Kind: "open", Flags: "wronly|creat|excl", Path: s.prefix + "new"}
			return built{action: a, own: objectOf(s), requests: []vfsops.Request{{Op: vfsops.OpOpen, Flags: a.OpenFlags()}},
				effect: isRegular(fixtureRel(s, a.Path))}
		}},
		{name: "open-tmpfile", op: vfsops.OpOpen, shapes: []shape{depth1, depth2, nested}, build: func(s shape) built {
			// The directory named gets the file: "." is the handle's own.
			dir := strings.TrimSuffix(s.prefix, "/")
			if dir == "" {
				dir = "."
			}
			a := Action{Kind: "open", Flags: "wronly|tmpfile", Path: dir}
			return built{action: a, own: objectOf(s), requests: []vfsops.Request{{Op: vfsops.OpOpen, Flags: a.OpenFlags()}}}
		}},
		pathSpec("stat", vfsops.OpStat, withRoot, "f", Action{Kind: "stat"}, nil),
		pathSpec("lstat", vfsops.OpStat, []shape{depth1, depth2, nested, rootShape}, "ls", Action{Kind: "lstat"}, nil),
		pathSpec("chmod", vfsops.OpChmod, withRoot, "f", Action{Kind: "chmod", Mode: 0o600}, func(rel string) effect {
			if rel == "." {
				return modeIs(rel, 0o700)
			}
			return modeIs(rel, 0o600)
		}),
		pathSpec("chown", vfsops.OpChown, withRoot, "f", Action{Kind: "chown"}, func(rel string) effect { return ownerIs(rel, chownUID, chownGID) }),
		pathSpec("utimens", vfsops.OpChtimes, withRoot, "f", Action{Kind: "utimens"}, func(rel string) effect { return mtimeIs(rel, fixedTime) }),
		pathSpec("truncate", vfsops.OpTruncate, fileShapes, "f", Action{Kind: "truncate"}, func(rel string) effect { return sizeIs(rel, 0) }),
		pathSpec("readlink", vfsops.OpReadlink, entryShapes, "ls", Action{Kind: "readlink"}, nil),
		entrySpec("mkdir", vfsops.OpMkdir, Action{Kind: "mkdir", Path: "new"}, func(s shape) effect { return isDir(fixtureRel(s, s.prefix+"new")) }),
		entrySpec("unlink", vfsops.OpUnlink, Action{Kind: "unlink", Path: "f"}, func(s shape) effect { return gone(fixtureRel(s, s.prefix+"f")) }),
		entrySpec("rmdir", vfsops.OpRmdir, Action{Kind: "rmdir", Path: "e"}, func(s shape) effect { return gone(fixtureRel(s, s.prefix+"e")) }),
		entrySpec("symlink", vfsops.OpSymlink, Action{Kind: "symlink", Target: "f", Path2: "new"}, func(s shape) effect {
			return isSymlink(fixtureRel(s, s.prefix+"new"), "f")
		}),
		twoDirSpec("rename-fresh", vfsops.OpRename, Action{Kind: "rename", RenameFlags: "none"}, renameReq("none", false), "f", "new",
			func(src, dst string) effect { return all(gone(src), contentIs(dst, fData)) }),
		twoDirSpec("rename-over", vfsops.OpRename, Action{Kind: "rename", RenameFlags: "none"}, renameReq("none", true), "f", "g",
			func(src, dst string) effect { return all(gone(src), contentIs(dst, fData)) }),
		twoDirSpec("rename-noreplace", vfsops.OpRename, Action{Kind: "rename", RenameFlags: "noreplace"}, renameReq("noreplace", false), "f", "new",
			func(src, dst string) effect { return all(gone(src), contentIs(dst, fData)) }),
		twoDirSpec("rename-exchange", vfsops.OpRename, Action{Kind: "rename", RenameFlags: "exchange"}, renameReq("exchange", true), "f", "g",
			func(src, dst string) effect { return all(contentIs(src, gData), contentIs(dst, fData)) }),
		twoDirSpec("link", vfsops.OpLink, Action{Kind: "link"}, vfsops.Request{Op: vfsops.OpLink}, "f", "new",
			func(src, dst string) effect { return sameFile(src, dst) }),

		fdSpec("read", vfsops.OpRead, "rdonly", nil),
		fdSpec("write", vfsops.OpWrite, "wronly", func(rel string) effect { return contentIs(rel, "new\n\n") }),
		fdSpec("append", vfsops.OpAppend, "wronly|append", func(rel string) effect { return contentIs(rel, fData+"new\n") }),
		fdSpec("pread", vfsops.OpPread, "rdonly", nil),
		fdSpec("pwrite", vfsops.OpPwrite, "wronly", func(rel string) effect { return contentIs(rel, "dXta\n") }),
		fdSpec("seek", vfsops.OpSeek, "rdonly", nil),
		fdSpec("fstat", vfsops.OpFstat, "rdonly", nil),
		fdSpec("ftruncate", vfsops.OpFtruncate, "wronly", func(rel string) effect { return sizeIs(rel, 0) }),
		fdSpec("readdir", vfsops.OpReaddir, "rdonly|directory", nil),
		fdSpec("fchmod", vfsops.OpFchmod, "rdonly", func(rel string) effect { return modeIs(rel, 0o600) }),
		fdSpec("fchown", vfsops.OpFchown, "rdonly", func(rel string) effect { return ownerIs(rel, chownUID, chownGID) }),
		fdSpec("futimes", vfsops.OpFutimes, "rdonly", func(rel string) effect { return mtimeIs(rel, fixedTime) }),
		fdSpec("sync", vfsops.OpSync, "rdonly", nil),
		fdSpec("lock", vfsops.OpLock, "rdonly", nil),
		fdSpec("xattr-get", vfsops.OpXattrGet, "rdonly", nil),
		fdSpec("xattr-list", vfsops.OpXattrList, "rdonly", nil),
		fdSpec("xattr-set", vfsops.OpXattrSet, "rdonly", func(rel string) effect { return hasXattr(rel, "user.new") }),
		fdSpec("xattr-remove", vfsops.OpXattrRemove, "rdonly", func(rel string) effect { return noXattr(rel, fixtureXattr) }),
	}
}

// full is the positive control: every right, base and inherit.
var full = rights.Uniform(rights.All)

// Cases returns the matrix: every spec on each of its shapes, under the
// full pair and with each right the model says the case needs removed,
// once from Base and once from Inherit. For the nested shape the outer
// grant keeps the full pair and the nested grant is the narrowed one, so
// the case shows that the nearer grant decides.
func Cases() []*Case {
	var out []*Case
	for _, sp := range specs() {
		for _, s := range sp.shapes {
			b := sp.build(s)
			proto := Case{Op: sp.name, Shape: s.name, Action: b.action, Requests: b.requests, Own: b.own, Effect: b.effect, Nested: s.nested}
			variants := []struct {
				name    string
				removed rights.Rights
				pair    rights.Pair
			}{{"full", 0, full}}
			for _, r := range bitsOf(proto.Needed()) {
				variants = append(variants,
					struct {
						name    string
						removed rights.Rights
						pair    rights.Pair
					}{"base-" + r.String(), r, rights.Pair{Base: full.Base.Without(r), Inherit: full.Inherit}},
					struct {
						name    string
						removed rights.Rights
						pair    rights.Pair
					}{"inherit-" + r.String(), r, rights.Pair{Base: full.Base, Inherit: full.Inherit.Without(r)}})
			}
			for _, v := range variants {
				c := proto
				c.Variant, c.Removed = v.name, v.removed
				c.Name = sp.name + "/" + s.name + "/" + v.name
				c.Outer = v.pair
				if s.nested {
					c.Outer, c.Inner = full, v.pair
				}
				out = append(out, &c)
			}
		}
	}
	return out
}

// bitsOf splits r into its single rights, in bit order.
func bitsOf(r rights.Rights) []rights.Rights {
	var out []rights.Rights
	for b := rights.Rights(1); b != 0 && b <= rights.All; b <<= 1 {
		if r&b != 0 {
			out = append(out, b)
		}
	}
	return out
}

// chownUID and chownGID are what the chown cases give the file: another
// owner when the suite runs as root, so that the cases need the chown
// right (a chown that keeps the owner needs chmod:
// vfsops.Request.KeepsOwner); the suite's own ids otherwise, where only
// that is possible. testdata/op.c makes the same choice.
var chownUID, chownGID, chownKeepsOwner = func() (int, int, bool) {
	if os.Geteuid() == 0 {
		return 65534, 65534, false
	}
	return os.Getuid(), os.Getgid(), true
}()
