package capfd

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Mkdir creates the directory name with mode perm (before the umask).
func (d *Dir) Mkdir(name string, perm fs.FileMode) error {
	return d.mkdir(name, syscallMode(perm), 0)
}

// The entry operations' variants take resolve options extra, added to d's
// (they only tighten): what a server needs to serve a client's request,
// whose own Dir may resolve more strictly than the server's does.

func (d *Dir) mkdir(path string, mode uint32, extra Resolve) error {
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "mkdir", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.mkdir(a.name, mode, extra) })
	}
	return d.entry("mkdir", vfsops.OpMkdir, path, func() error { return d.t.Mkdir(d.h, path, mode, d.how|extra) })
}

func (d *Dir) unlink(path string, extra Resolve) error {
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "unlink", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.unlink(a.name, extra) })
	}
	return d.entry("unlink", vfsops.OpUnlink, path, func() error { return d.t.Unlink(d.h, path, d.how|extra) })
}

func (d *Dir) rmdir(path string, extra Resolve) error {
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "rmdir", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.rmdir(a.name, extra) })
	}
	return d.entry("rmdir", vfsops.OpRmdir, path, func() error { return d.t.Rmdir(d.h, path, d.how|extra) })
}

// entry checks d's rights for what the vfsops table says op needs of the
// directory (and of the object path names), then makes the call, holding
// d in use.
func (d *Dir) entry(opName string, op vfsops.Op, path string, call func() error) error {
	return d.entryRequest(opName, vfsops.Request{Op: op}, path, call)
}

// entryRequest is entry for a request whose needs depend on more than its
// op (vfsops.Request).
func (d *Dir) entryRequest(opName string, req vfsops.Request, path string, call func() error) error {
	if err := d.check(opName, req, vfsops.OnDir, path); err != nil {
		return err
	}
	if err := d.use(opName, path); err != nil {
		return err
	}
	defer d.done()
	if err := call(); err != nil {
		return pathError(opName, path, err)
	}
	return nil
}

// MkdirAll creates the directory name with mode perm (before the umask),
// along with any missing parents, like os.Root.MkdirAll: a name that is
// already a directory (or a symlink to one beneath d) is not an error, an
// existing final name that is not a directory fails with fs.ErrExist, and
// an existing parent that is not a directory with ENOTDIR.
//
// Every step is resolved beneath d as the whole name would be, one more
// component at a time ("a", "a/b", "a/b/c"), so ".." and symlinks are
// followed, and refused when they leave d, exactly as for Mkdir; nothing
// is cleaned lexically. Each directory is first looked up (which needs
// only what OpenDir needs), and only a missing one is made, with Mkdir and
// so with Mkdir's rights: a name that exists entirely needs no mkdir
// right.
func (d *Dir) MkdirAll(name string, perm fs.FileMode) error {
	if name == "" {
		return pathError("mkdir", name, unix.ENOENT)
	}
	comps := strings.Split(name, "/")
	last := len(comps) - 1
	for last > 0 && comps[last] == "" {
		last-- // trailing slashes name the same directory
	}
	prefix := ""
	for i, c := range comps[:last+1] {
		if i > 0 {
			prefix += "/"
		}
		prefix += c
		if c == "" || c == "." || c == ".." {
			// Nothing to create: the resolver walks it with the next
			// component (or below, for a final dot).
			if i < last {
				continue
			}
		}
		if err := d.mkdirStep(prefix, perm, i == last); err != nil {
			return err
		}
	}
	return nil
}

// mkdirStep makes sure p is a directory beneath d, creating it if it is
// missing. final: p is MkdirAll's whole name, where an existing
// non-directory is fs.ErrExist rather than ENOTDIR.
func (d *Dir) mkdirStep(p string, perm fs.FileMode, final bool) error {
	for try := 0; ; try++ {
		sub, err := d.OpenDir(p, rights.Pair{})
		if err == nil {
			sub.Close()
			return nil
		}
		if errors.Is(err, unix.ENOTDIR) && final {
			// As os.Root.MkdirAll: a symlink to a non-directory is
			// ENOTDIR, any other non-directory EEXIST (as mkdir says).
			if fi, lerr := d.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return relabelOp("mkdir", err)
			}
			return pathError("mkdir", p, unix.EEXIST)
		}
		if !errors.Is(err, fs.ErrNotExist) || try > 0 {
			return relabelOp("mkdir", err)
		}
		err = d.Mkdir(p, perm)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		// Made meanwhile by someone else: look again, once.
	}
}

// relabelOp gives the *fs.PathError of a step of a composite operation
// the composite's operation name, keeping everything else. A refusal
// (*Error) keeps the name of the step it refused, whose rights it lists.
func relabelOp(op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Op = op
	}
	return err
}

// Remove removes the file, symlink or empty directory name.
func (d *Dir) Remove(name string) error {
	if d.placing() != nil {
		return removeWith(name, func() error { return asOp("remove", d.unlink(name, 0)) }, func() error { return asOp("remove", d.rmdir(name, 0)) })
	}
	if err := d.check("remove", vfsops.Request{Op: vfsops.OpUnlink}, vfsops.OnDir, name); err != nil {
		return err
	}
	if err := d.check("remove", vfsops.Request{Op: vfsops.OpRmdir}, vfsops.OnDir, name); err != nil {
		return err
	}
	if err := d.use("remove", name); err != nil {
		return err
	}
	defer d.done()
	return removeWith(name, func() error { return d.t.Unlink(d.h, name, d.how) }, func() error { return d.t.Rmdir(d.h, name, d.how) })
}

// removeWith is os.Remove's order: try the file, then the directory, and
// report whichever error says more about why name could not go.
func removeWith(name string, unlink, rmdir func() error) error {
	errUnlink := unlink()
	if errUnlink == nil {
		return nil
	}
	if errors.Is(errUnlink, ErrNotCapable) {
		return errUnlink // a placed handle's refusal, named already
	}
	if errors.Is(errUnlink, ErrEscape) || errors.Is(errUnlink, vfsops.ErrBadName) {
		return pathError("remove", name, errUnlink)
	}
	errRmdir := rmdir()
	if errRmdir == nil {
		return nil
	}
	if !errors.Is(errRmdir, unix.ENOTDIR) {
		errUnlink = errRmdir
	}
	return pathError("remove", name, errUnlink)
}

// RemoveAll removes name and everything beneath it, like os.RemoveAll:
// a name that does not exist is not an error. It needs the rights of
// Remove, ReadDir and Lstat, on d for entries directly in it and, for
// deeper ones, on the directories it opens (with d's Inherit rights).
func (d *Dir) RemoveAll(name string) error {
	// As os.RemoveAll and os.Root.RemoveAll: trailing slashes are dropped
	// (RemoveAll("file/") removes the file, RemoveAll("link/") the link),
	// and a final "." or ".." is refused, as removing a capability's own
	// root (or its parent) is never what the caller meant. Nothing else is
	// cleaned: "a/../x" is resolved as the kernel resolves it, with a
	// symlink a -> b/c naming b/x, never lexically as ./x.
	trimmed := strings.TrimRight(name, "/")
	if trimmed == "" {
		trimmed = "/"
	}
	if last := trimmed[strings.LastIndexByte(trimmed, '/')+1:]; last == "" || last == "." || last == ".." {
		return pathError("removeall", name, unix.EINVAL)
	}
	err := d.Remove(trimmed)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var capErr *Error
	if errors.As(err, &capErr) {
		return err
	}
	info, lerr := d.Lstat(trimmed)
	if lerr != nil {
		if errors.Is(lerr, fs.ErrNotExist) {
			return nil
		}
		return lerr
	}
	if !info.IsDir() {
		return err
	}
	// Descend through a Dir of our own so that the walk below trimmed is
	// beneath the directory itself, not re-resolved from d for each entry.
	// What lies beneath d has d's inherit rights, as base and inherit.
	sub, oerr := d.OpenDir(trimmed, rights.Uniform(d.rights.Inherit))
	if oerr != nil {
		return fmt.Errorf("removeall %s: %w", name, oerr)
	}
	werr := sub.removeContents()
	sub.Close()
	if werr != nil {
		return werr
	}
	if err := d.Remove(trimmed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d *Dir) removeContents() error {
	entries, err := d.ReadDir(".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := d.RemoveAll(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// Rename renames oldName beneath d to newName beneath newDir (d itself if
// newDir is nil). d needs rename-from, newDir rename-to.
//
// Like os.Rename it replaces an existing newName, but only if newDir also
// holds unlink: replacing destroys the old entry, which rename-to alone
// does not allow (Capsicum's rule for CAP_RENAMEAT_TARGET). Without unlink
// the rename is made with RENAME_NOREPLACE and fails with fs.ErrExist if
// newName exists, so a capability that may only add entries cannot
// overwrite a file by renaming over it.
func (d *Dir) Rename(oldName string, newDir *Dir, newName string) error {
	if newDir == nil {
		newDir = d
	}
	var flags uint
	if w, sure := lexicalWhere(newName); sure && !rightsAt(newDir.rights, w, vfsops.OnTargetDir).Has(rights.Unlink) {
		// Where the target directory's place is unsure, a placed rename
		// (local, or the broker's) decides on the directory it reaches.
		flags = unix.RENAME_NOREPLACE
	}
	return d.rename(oldName, newDir, newName, flags, 0)
}

// rename is Rename with renameat2 flags (0 or RENAME_NOREPLACE, which the
// rule above may add) and resolve options extra. A local target Dir
// without unlink in its Base gets RENAME_NOREPLACE whatever the flags say:
// that is the target directory's own right for a name in it, and what
// decides for a placed directory (placedAt.ps) and for a server's
// request.
func (d *Dir) rename(oldPath string, to *Dir, newPath string, flags uint, extra Resolve) error {
	if flags&^uint(unix.RENAME_NOREPLACE) != 0 {
		return linkError("rename", oldPath, newPath, unix.EINVAL)
	}
	if d.placing() != nil || to.placing() != nil {
		if d.t != to.t {
			return linkError("rename", oldPath, newPath, unix.EXDEV)
		}
		return d.twoPlaced("rename", oldPath, entryFinal, to, newPath, entryFinal, extra, func(from, target *placedAt) error {
			return from.ps.rename(from.name, target.ps, target.name, flags, extra)
		})
	}
	if to.t == local && !to.rights.Base.Has(need(vfsops.OpUnlink, vfsops.OnDir)) {
		flags |= unix.RENAME_NOREPLACE
	}
	return d.twoDirOp("rename", vfsops.OpRename, oldPath, to, newPath, extra,
		func(how vfsops.Resolve) error {
			return d.t.Rename(d.h, oldPath, to.h, newPath, flags, how)
		})
}

// Link creates newName beneath newDir (d itself if nil) as a hard link to
// oldName beneath d. d needs link-from, newDir link-to. A symlink is linked
// itself, never followed.
func (d *Dir) Link(oldName string, newDir *Dir, newName string) error {
	if newDir == nil {
		newDir = d
	}
	return d.link(oldName, newDir, newName, 0)
}

func (d *Dir) link(oldPath string, to *Dir, newPath string, extra Resolve) error {
	if d.placing() != nil || to.placing() != nil {
		if d.t != to.t {
			return linkError("link", oldPath, newPath, unix.EXDEV)
		}
		return d.twoPlaced("link", oldPath, lookupFinal, to, newPath, entryFinal, extra, func(from, target *placedAt) error {
			return from.ps.link(from.name, target.ps, target.name, extra)
		})
	}
	return d.twoDirOp("link", vfsops.OpLink, oldPath, to, newPath, extra,
		func(how vfsops.Resolve) error {
			return d.t.Link(d.h, oldPath, to.h, newPath, how)
		})
}

// twoDirOp checks the rights of an operation with a source and a target
// directory, keeps both open while it runs, and makes the call.
func (d *Dir) twoDirOp(opName string, op vfsops.Op, oldName string, newDir *Dir, newName string, extra Resolve,
	call func(how vfsops.Resolve) error) error {
	if err := d.check(opName, vfsops.Request{Op: op}, vfsops.OnSourceDir, oldName); err != nil {
		return err
	}
	if err := newDir.check(opName, vfsops.Request{Op: op}, vfsops.OnTargetDir, newName); err != nil {
		return err
	}
	if d.t != newDir.t {
		// Handles of two transports (two brokers, or a broker and this
		// process) name nothing the other can act on.
		return linkError(opName, oldName, newName, unix.EXDEV)
	}
	if err := d.use(opName, oldName); err != nil {
		return err
	}
	defer d.done()
	if newDir != d {
		if err := newDir.use(opName, newName); err != nil {
			return err
		}
		defer newDir.done()
	}
	// Resolution is as strict as the stricter of the two directories asks.
	if err := call(d.how | newDir.how | extra); err != nil {
		return linkError(opName, oldName, newName, err)
	}
	return nil
}

// Symlink creates name as a symbolic link to target. target is stored as
// given; whoever follows the link later resolves it beneath their own
// directory, so an absolute or "../" target can name nothing outside.
func (d *Dir) Symlink(target, name string) error {
	err := d.symlink(target, name, 0)
	var pe *fs.PathError
	if errors.As(err, &pe) && pe == err && !errors.Is(err, fs.ErrClosed) {
		// The system call's failure names both, as os.Symlink's does.
		return linkError("symlink", target, name, pe.Err)
	}
	return err
}

func (d *Dir) symlink(target, path string, extra Resolve) error {
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "symlink", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.symlink(target, a.name, extra) })
	}
	return d.entry("symlink", vfsops.OpSymlink, path, func() error { return d.t.Symlink(target, d.h, path, d.how|extra) })
}

// Readlink returns the target of the symbolic link name.
func (d *Dir) Readlink(name string) (string, error) { return d.readlink(name, 0) }

func (d *Dir) readlink(path string, extra Resolve) (target string, err error) {
	if pl := d.placing(); pl != nil {
		err = d.viaPlace(pl, "readlink", path, extra, lookupFinal, objectNeed(vfsops.OpReadlink), func(a *placedAt) (err error) {
			target, err = a.ps.readlink(a.name, extra)
			return err
		})
		return target, err
	}
	err = d.entry("readlink", vfsops.OpReadlink, path, func() (err error) {
		target, err = d.t.Readlink(d.h, path, d.how|extra)
		return err
	})
	return target, err
}
