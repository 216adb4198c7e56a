package capfd

import (
	"github.com/capfd/capfd/internal/servebridge"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// The broker serves local Dirs and Files to its clients through
// servebridge.Handle (internal/servebridge says why the bridge). served implements
// it with Dir's and File's own unexported variants, so a served request
// runs exactly the checks and the system calls a local call does; what is
// the broker's (which handles a client holds, what a descriptor may be
// passed, what a refused mount means) is in package broker.

func init() {
	servebridge.ServeDir = func(d servebridge.Dir, name string) servebridge.Handle {
		dir := d.(*Dir)
		dir.name = name
		return &served{dir: dir}
	}
}

// served is a local Dir or File as the broker serves it.
type served struct {
	dir  *Dir  // set for directory handles
	file *File // set for file handles
}

var _ servebridge.Handle = (*served)(nil)

func (s *served) IsDir() bool { return s.dir != nil }

func (s *served) Rights() rights.Pair {
	if s.dir != nil {
		return s.dir.rights
	}
	return rights.Pair{Base: s.file.rights}
}

func (s *served) Name() string {
	if s.dir != nil {
		return s.dir.name
	}
	return s.file.name
}

func (s *served) Close() error {
	if s.dir != nil {
		return s.dir.Close()
	}
	return s.file.Close()
}

// handleRights is what s may do to itself: a directory's Base, a file's
// rights.
func (s *served) handleRights() rights.Rights {
	if s.dir != nil {
		return s.dir.rights.Base
	}
	return s.file.rights
}

// acquire pins s's transport handle for one call; release undoes it.
func (s *served) acquire(opName string) (transport, handleID, func(), error) {
	if s.dir != nil {
		if err := s.dir.use(opName, s.dir.name); err != nil {
			return nil, 0, nil, err
		}
		return s.dir.t, s.dir.h, s.dir.done, nil
	}
	if err := s.file.use(opName); err != nil {
		return nil, 0, nil, err
	}
	return s.file.t, s.file.h, s.file.done, nil
}

func (s *served) Check(opName string, op vfsops.Op) error {
	n := need(op, vfsops.OnHandle)
	if held := s.handleRights(); !held.Has(n) {
		return notCapable(opName, s.Name(), n, held)
	}
	return nil
}

// asDir returns the Dir of a handle, or an error for an entry operation
// on a file.
func asDir(h servebridge.Handle, opName, path string) (*Dir, error) {
	s := h.(*served)
	if s.dir == nil {
		return nil, pathError(opName, path, unix.ENOTDIR)
	}
	return s.dir, nil
}

func (s *served) Open(path string, flags int, mode uint32, extra Resolve, r rights.Rights) (servebridge.Handle, error) {
	d, err := asDir(s, "open", path)
	if err != nil {
		return nil, err
	}
	f, err := d.openFile(path, flags, mode, extra, r)
	if err != nil {
		return nil, err
	}
	return &served{file: f}, nil
}

func (s *served) OpenDir(path string, extra Resolve, r rights.Pair) (servebridge.Handle, error) {
	d, err := asDir(s, "opendir", path)
	if err != nil {
		return nil, err
	}
	nd, err := d.openDir(path, extra, r)
	if err != nil {
		return nil, err
	}
	return &served{dir: nd}, nil
}

// Reopen of a directory handle is governed by its Base, as Dir.ReadDir's
// reopen of "." is.
func (s *served) Reopen(flags int, r rights.Rights) (servebridge.Handle, error) {
	if s.file != nil {
		f, err := s.file.reopen(flags, r)
		if err != nil {
			return nil, err
		}
		return &served{file: f}, nil
	}
	d := s.dir
	if err := checkReopen(d.rights.Base, d.name, flags, r); err != nil {
		return nil, err
	}
	if err := d.use("reopen", d.name); err != nil {
		return nil, err
	}
	defer d.done()
	f, err := reopened(d.t, d.h, d.name, d.how, flags, r)
	if err != nil {
		return nil, err
	}
	return &served{file: f}, nil
}

func (s *served) Dup(r rights.Pair) (servebridge.Handle, error) {
	if s.dir != nil {
		d, err := s.dir.Limit(r)
		if err != nil {
			return nil, err
		}
		return &served{dir: d}, nil
	}
	if r.Inherit != 0 {
		return nil, notCapable("limit", s.Name(), r.Inherit, 0)
	}
	f, err := s.file.Limit(r.Base)
	if err != nil {
		return nil, err
	}
	return &served{file: f}, nil
}

// The entry operations are Dir's variants.

func (s *served) Mkdir(path string, mode uint32, extra Resolve) error {
	d, err := asDir(s, "mkdir", path)
	if err != nil {
		return err
	}
	return d.mkdir(path, mode, extra)
}

func (s *served) Unlink(path string, extra Resolve) error {
	d, err := asDir(s, "unlink", path)
	if err != nil {
		return err
	}
	return d.unlink(path, extra)
}

func (s *served) Rmdir(path string, extra Resolve) error {
	d, err := asDir(s, "rmdir", path)
	if err != nil {
		return err
	}
	return d.rmdir(path, extra)
}

func (s *served) Symlink(target, path string, extra Resolve) error {
	d, err := asDir(s, "symlink", path)
	if err != nil {
		return err
	}
	return d.symlink(target, path, extra)
}

func (s *served) Readlink(path string, extra Resolve) (string, error) {
	d, err := asDir(s, "readlink", path)
	if err != nil {
		return "", err
	}
	return d.readlink(path, extra)
}

// Stat also works on a file handle that is a directory: File.ReadDir's
// entries stat themselves through it (File.lstatEntry).
func (s *served) Stat(path string, extra Resolve, follow bool) (unix.Stat_t, error) {
	if s.file != nil {
		return s.file.statEntry("stat", path, extra, follow)
	}
	return s.dir.statAt("stat", path, extra, follow)
}

func (s *served) Chmod(path string, mode uint32, extra Resolve) error {
	d, err := asDir(s, "chmod", path)
	if err != nil {
		return err
	}
	return d.chmod(path, mode, extra)
}

func (s *served) Chown(path string, uid, gid int, extra Resolve, follow bool) error {
	d, err := asDir(s, "chown", path)
	if err != nil {
		return err
	}
	return d.chown("chown", path, uid, gid, extra, follow)
}

func (s *served) Chtimes(path string, atime, mtime unix.Timespec, extra Resolve, follow bool) error {
	d, err := asDir(s, "chtimes", path)
	if err != nil {
		return err
	}
	return d.chtimes(path, atime, mtime, extra, follow)
}

func (s *served) Truncate(path string, size int64, extra Resolve) error {
	d, err := asDir(s, "truncate", path)
	if err != nil {
		return err
	}
	return d.truncate(path, size, extra)
}

func (s *served) Rename(oldPath string, to servebridge.Handle, newPath string, flags uint, extra Resolve) error {
	from, target, err := twoDirs("rename", s, oldPath, to, newPath)
	if err != nil {
		return err
	}
	return from.rename(oldPath, target, newPath, flags, extra)
}

func (s *served) Link(oldPath string, to servebridge.Handle, newPath string, extra Resolve) error {
	from, target, err := twoDirs("link", s, oldPath, to, newPath)
	if err != nil {
		return err
	}
	return from.link(oldPath, target, newPath, extra)
}

func twoDirs(opName string, s *served, oldPath string, to servebridge.Handle, newPath string) (*Dir, *Dir, error) {
	from, err := asDir(s, opName, oldPath)
	if err != nil {
		return nil, nil, err
	}
	target, err := asDir(to, opName, newPath)
	if err != nil {
		return nil, nil, err
	}
	return from, target, nil
}

// BindMount is File.BindMount or Dir.BindMount, placed on the target's
// side, with extra.
func (s *served) BindMount(to servebridge.Handle, targetPath string, extra Resolve) error {
	const opName = "bindmount"
	if err := s.Check(opName, vfsops.OpBindMount); err != nil {
		return err
	}
	target, err := asDir(to, opName, targetPath)
	if err != nil {
		return err
	}
	return s.bindMount(target, targetPath, extra)
}

func (s *served) bindMount(target *Dir, targetPath string, extra Resolve) error {
	const opName = "bindmount"
	if pl := target.placing(); pl != nil {
		// The final open is O_NOFOLLOW already, so the placed directory
		// need not refuse every symlink.
		a, err := target.placeAt(pl, opName, targetPath, extra, lookupFinal, false)
		if err != nil {
			return err
		}
		defer a.close()
		return placedPath(s.bindMount(a.ps, a.name, extra), targetPath)
	}
	if err := target.check(opName, vfsops.Request{Op: vfsops.OpBindMount}, vfsops.OnTargetDir, targetPath); err != nil {
		return err
	}
	t, h, done, err := s.acquire(opName)
	if err != nil {
		return err
	}
	defer done()
	if err := target.use(opName, targetPath); err != nil {
		return err
	}
	defer target.done()
	// Both handles belong to the serving process's local transport: only
	// local Dirs are served.
	if err := t.BindMount(h, target.h, targetPath, target.how|extra); err != nil {
		return linkError(opName, s.Name(), targetPath, err)
	}
	return nil
}

// The operations on the handle itself: each checks s's own rights (a
// directory's Base, a file's rights) and makes one transport call. (File's
// own methods loop where os.File's do; a client's File loops on its side.)

func (s *served) self(opName string, op vfsops.Op, fn func(t transport, h handleID) error) error {
	if err := s.Check(opName, op); err != nil {
		return err
	}
	t, h, done, err := s.acquire(opName)
	if err != nil {
		return err
	}
	defer done()
	if err := fn(t, h); err != nil {
		return pathError(opName, s.Name(), err)
	}
	return nil
}

func (s *served) WithFd(opName string, fn func(fd int) error) error {
	t, h, done, err := s.acquire(opName)
	if err != nil {
		return err
	}
	defer done()
	fd, err := t.Fd(h)
	if err != nil {
		return pathError(opName, s.Name(), err)
	}
	return fn(fd)
}

func (s *served) Fstat() (st unix.Stat_t, err error) {
	err = s.self("stat", vfsops.OpFstat, func(t transport, h handleID) (err error) {
		st, err = t.Fstat(h)
		return err
	})
	return st, err
}

func (s *served) Ftruncate(size int64) error {
	if size < 0 {
		return pathError("truncate", s.Name(), unix.EINVAL)
	}
	return s.self("truncate", vfsops.OpFtruncate, func(t transport, h handleID) error { return t.Ftruncate(h, size) })
}

func (s *served) Fchmod(mode uint32) error {
	return s.self("chmod", vfsops.OpFchmod, func(t transport, h handleID) error { return t.Fchmod(h, mode) })
}

func (s *served) Fchown(uid, gid int) error {
	if s.file != nil {
		return s.file.Chown(uid, gid) // KeepsOwner, as a local File decides it
	}
	return s.self("chown", vfsops.OpFchown, func(t transport, h handleID) error { return t.Fchown(h, uid, gid) })
}

func (s *served) Futimes(atime, mtime unix.Timespec) error {
	return s.self("chtimes", vfsops.OpFutimes, func(t transport, h handleID) error { return t.Futimes(h, atime, mtime) })
}

func (s *served) Fsync() error {
	return s.self("sync", vfsops.OpSync, func(t transport, h handleID) error { return t.Fsync(h) })
}

func (s *served) Flock(how int) error {
	return s.self("lock", vfsops.OpLock, func(t transport, h handleID) error { return t.Flock(h, how) })
}

func (s *served) Read(p []byte) (n int, err error) {
	err = s.self("read", vfsops.OpRead, func(t transport, h handleID) (err error) {
		n, err = t.Read(h, p)
		return err
	})
	return max(n, 0), err
}

func (s *served) Pread(p []byte, off int64) (n int, err error) {
	err = s.self("read", vfsops.OpPread, func(t transport, h handleID) (err error) {
		n, err = t.Pread(h, p, off)
		return err
	})
	return max(n, 0), err
}

// Write needs write, or append for a file opened O_APPEND (File.writeNeed).
func (s *served) Write(p []byte) (n int, err error) {
	op := vfsops.OpWrite
	if s.file != nil && s.file.flags&unix.O_APPEND != 0 {
		op = vfsops.OpAppend
	}
	err = s.self("write", op, func(t transport, h handleID) (err error) {
		n, err = t.Write(h, p)
		return err
	})
	return max(n, 0), err
}

func (s *served) Pwrite(p []byte, off int64) (n int, err error) {
	err = s.self("write", vfsops.OpPwrite, func(t transport, h handleID) (err error) {
		n, err = t.Pwrite(h, p, off)
		return err
	})
	return max(n, 0), err
}

func (s *served) Seek(off int64, whence int) (pos int64, err error) {
	err = s.self("seek", vfsops.OpSeek, func(t transport, h handleID) (err error) {
		pos, err = t.Seek(h, off, whence)
		return err
	})
	return pos, err
}

func (s *served) ReadDirents(buf []byte) (n int, err error) {
	err = s.self("readdir", vfsops.OpReaddir, func(t transport, h handleID) (err error) {
		n, err = t.ReadDirents(h, buf)
		return err
	})
	return max(n, 0), err
}

func (s *served) Getxattr(name string) (val []byte, err error) {
	err = s.self("getxattr", vfsops.OpXattrGet, func(t transport, h handleID) (err error) {
		val, err = t.Getxattr(h, name)
		return err
	})
	return val, err
}

func (s *served) Setxattr(name string, value []byte, flags int) error {
	return s.self("setxattr", vfsops.OpXattrSet, func(t transport, h handleID) error { return t.Setxattr(h, name, value, flags) })
}

func (s *served) Listxattr() (names []string, err error) {
	err = s.self("listxattr", vfsops.OpXattrList, func(t transport, h handleID) (err error) {
		names, err = t.Listxattr(h)
		return err
	})
	return names, err
}

func (s *served) Removexattr(name string) error {
	return s.self("removexattr", vfsops.OpXattrRemove, func(t transport, h handleID) error { return t.Removexattr(h, name) })
}
