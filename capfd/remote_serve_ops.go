package capfd

import (
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// The entry operations: each checks s's Base for what the vfsops table
// says the operation needs on the directory, then runs the local transport.

func (s *Served) entry(opName string, op vfsops.Op, path string, fn func(d *Dir) error) error {
	d, err := s.asDir(opName, path)
	if err != nil {
		return err
	}
	if err := d.check(opName, vfsops.Request{Op: op}, vfsops.OnDir, path); err != nil {
		return err
	}
	if err := d.use(opName, path); err != nil {
		return err
	}
	defer d.done()
	if err := fn(d); err != nil {
		return pathError(opName, path, err)
	}
	return nil
}

func (s *Served) Mkdir(path string, mode uint32, extra Resolve) error {
	if s.placing() {
		return s.viaPlace("mkdir", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.Mkdir(a.name, mode, extra) })
	}
	return s.entry("mkdir", vfsops.OpMkdir, path, func(d *Dir) error { return d.t.Mkdir(d.h, path, mode, how(d, extra)) })
}

func (s *Served) Unlink(path string, extra Resolve) error {
	if s.placing() {
		return s.viaPlace("unlink", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.Unlink(a.name, extra) })
	}
	return s.entry("unlink", vfsops.OpUnlink, path, func(d *Dir) error { return d.t.Unlink(d.h, path, how(d, extra)) })
}

func (s *Served) Rmdir(path string, extra Resolve) error {
	if s.placing() {
		return s.viaPlace("rmdir", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.Rmdir(a.name, extra) })
	}
	return s.entry("rmdir", vfsops.OpRmdir, path, func(d *Dir) error { return d.t.Rmdir(d.h, path, how(d, extra)) })
}

func (s *Served) Symlink(target, path string, extra Resolve) error {
	if s.placing() {
		return s.viaPlace("symlink", path, extra, entryFinal, 0, func(a *placedAt) error { return a.ps.Symlink(target, a.name, extra) })
	}
	return s.entry("symlink", vfsops.OpSymlink, path, func(d *Dir) error { return d.t.Symlink(target, d.h, path, how(d, extra)) })
}

func (s *Served) Readlink(path string, extra Resolve) (string, error) {
	var target string
	if s.placing() {
		err := s.viaPlace("readlink", path, extra, lookupFinal, objectNeed(vfsops.OpReadlink), func(a *placedAt) (err error) {
			target, err = a.ps.Readlink(a.name, extra)
			return err
		})
		return target, err
	}
	err := s.entry("readlink", vfsops.OpReadlink, path, func(d *Dir) (err error) {
		target, err = d.t.Readlink(d.h, path, how(d, extra))
		return err
	})
	return target, err
}

// Stat also works on a file handle that is a directory: File.ReadDir's
// entries stat themselves through it (File.lstatEntry), checked against
// the file's rights.
func (s *Served) Stat(path string, extra Resolve, follow bool) (unix.Stat_t, error) {
	var st unix.Stat_t
	if f := s.file; f != nil {
		n := need(vfsops.OpStat, vfsops.OnDir) | objectNeed(vfsops.OpStat)
		if !f.rights.Has(n) {
			return st, notCapable("stat", path, n, f.rights)
		}
		if err := f.use("stat"); err != nil {
			return st, err
		}
		defer f.done()
		st, err := f.t.Stat(f.h, path, f.how|extra, follow)
		if err != nil {
			return st, pathError("stat", path, err)
		}
		return st, nil
	}
	if s.placing() {
		err := s.viaPlace("stat", path, extra, lookupOr(follow), objectNeed(vfsops.OpStat), func(a *placedAt) (err error) {
			st, err = a.ps.Stat(a.name, extra, follow)
			return err
		})
		return st, err
	}
	err := s.entry("stat", vfsops.OpStat, path, func(d *Dir) (err error) {
		st, err = d.t.Stat(d.h, path, how(d, extra), follow)
		return err
	})
	return st, err
}

func (s *Served) Chmod(path string, mode uint32, extra Resolve) error {
	if s.placing() {
		return s.viaPlace("chmod", path, extra, followFinal, objectNeed(vfsops.OpChmod), func(a *placedAt) error { return a.ps.Chmod(a.name, mode, extra) })
	}
	return s.entry("chmod", vfsops.OpChmod, path, func(d *Dir) error { return d.t.Chmod(d.h, path, mode, how(d, extra)) })
}

func (s *Served) Chown(path string, uid, gid int, extra Resolve, follow bool) error {
	if s.placing() {
		return s.viaPlace("chown", path, extra, lookupOr(follow), objectNeed(vfsops.OpChown), func(a *placedAt) error {
			return a.ps.Chown(a.name, uid, gid, extra, follow)
		})
	}
	return s.entry("chown", vfsops.OpChown, path, func(d *Dir) error { return d.t.Chown(d.h, path, uid, gid, how(d, extra), follow) })
}

func (s *Served) Chtimes(path string, atime, mtime unix.Timespec, extra Resolve, follow bool) error {
	if s.placing() {
		return s.viaPlace("chtimes", path, extra, lookupOr(follow), objectNeed(vfsops.OpChtimes), func(a *placedAt) error {
			return a.ps.Chtimes(a.name, atime, mtime, extra, follow)
		})
	}
	return s.entry("chtimes", vfsops.OpChtimes, path, func(d *Dir) error {
		return d.t.Chtimes(d.h, path, atime, mtime, how(d, extra), follow)
	})
}

func (s *Served) Truncate(path string, size int64, extra Resolve) error {
	if size < 0 {
		return pathError("truncate", path, unix.EINVAL)
	}
	if s.placing() {
		return s.viaPlace("truncate", path, extra, followFinal, objectNeed(vfsops.OpTruncate), func(a *placedAt) error {
			return a.ps.Truncate(a.name, size, extra)
		})
	}
	return s.entry("truncate", vfsops.OpTruncate, path, func(d *Dir) error { return d.t.Truncate(d.h, path, size, how(d, extra)) })
}

// Rename and Link check the source directory (s) and the target directory
// (to) for their own halves of the requirement.
//
// Rename follows Dir.Rename's rule: replacing an existing entry destroys
// it, so unless the target directory holds unlink the rename is made with
// RENAME_NOREPLACE whatever the client asked. flags may only add
// RENAME_NOREPLACE.
func (s *Served) Rename(oldPath string, to *Served, newPath string, flags uint, extra Resolve) error {
	if flags&^uint(unix.RENAME_NOREPLACE) != 0 {
		return linkError("rename", oldPath, newPath, unix.EINVAL)
	}
	if s.placing() || to.placing() {
		return s.twoPlaced("rename", oldPath, entryFinal, to, newPath, entryFinal, extra, func(from, target *placedAt) error {
			return from.ps.Rename(from.name, target.ps, target.name, flags, extra)
		})
	}
	if to.dir != nil && !to.dir.rights.Base.Has(need(vfsops.OpUnlink, vfsops.OnDir)) {
		flags |= unix.RENAME_NOREPLACE
	}
	return s.twoDir("rename", vfsops.OpRename, oldPath, to, newPath, func(from, to *Dir) error {
		return from.t.Rename(from.h, oldPath, to.h, newPath, flags, how(from, extra)|how(to, extra))
	})
}

func (s *Served) Link(oldPath string, to *Served, newPath string, extra Resolve) error {
	if s.placing() || to.placing() {
		return s.twoPlaced("link", oldPath, lookupFinal, to, newPath, entryFinal, extra, func(from, target *placedAt) error {
			return from.ps.Link(from.name, target.ps, target.name, extra)
		})
	}
	return s.twoDir("link", vfsops.OpLink, oldPath, to, newPath, func(from, to *Dir) error {
		return from.t.Link(from.h, oldPath, to.h, newPath, how(from, extra)|how(to, extra))
	})
}

func (s *Served) twoDir(opName string, op vfsops.Op, oldPath string, to *Served, newPath string, fn func(from, to *Dir) error) error {
	from, err := s.asDir(opName, oldPath)
	if err != nil {
		return err
	}
	target, err := to.asDir(opName, newPath)
	if err != nil {
		return err
	}
	if err := from.check(opName, vfsops.Request{Op: op}, vfsops.OnSourceDir, oldPath); err != nil {
		return err
	}
	if err := target.check(opName, vfsops.Request{Op: op}, vfsops.OnTargetDir, newPath); err != nil {
		return err
	}
	if err := from.use(opName, oldPath); err != nil {
		return err
	}
	defer from.done()
	if err := target.use(opName, newPath); err != nil {
		return err
	}
	defer target.done()
	if err := fn(from, target); err != nil {
		return linkError(opName, oldPath, newPath, err)
	}
	return nil
}

// The operations on the handle itself: each checks s's own rights (a
// directory's Base, a file's rights) before the transport call.

func (s *Served) self(opName string, op vfsops.Op, fn func(t transport, h handleID) error) error {
	if err := s.checkSelf(opName, op); err != nil {
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

func (s *Served) Fstat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := s.self("stat", vfsops.OpFstat, func(t transport, h handleID) (err error) {
		st, err = t.Fstat(h)
		return err
	})
	return st, err
}

func (s *Served) Ftruncate(size int64) error {
	if size < 0 {
		return pathError("truncate", s.Name(), unix.EINVAL)
	}
	return s.self("truncate", vfsops.OpFtruncate, func(t transport, h handleID) error { return t.Ftruncate(h, size) })
}

func (s *Served) Fchmod(mode uint32) error {
	return s.self("chmod", vfsops.OpFchmod, func(t transport, h handleID) error { return t.Fchmod(h, mode) })
}

func (s *Served) Fchown(uid, gid int) error {
	return s.self("chown", vfsops.OpFchown, func(t transport, h handleID) error { return t.Fchown(h, uid, gid) })
}

func (s *Served) Futimes(atime, mtime unix.Timespec) error {
	return s.self("chtimes", vfsops.OpFutimes, func(t transport, h handleID) error { return t.Futimes(h, atime, mtime) })
}

func (s *Served) Fsync() error {
	return s.self("sync", vfsops.OpSync, func(t transport, h handleID) error { return t.Fsync(h) })
}

func (s *Served) Flock(how int) error {
	return s.self("lock", vfsops.OpLock, func(t transport, h handleID) error { return t.Flock(h, how) })
}

func (s *Served) Read(p []byte) (n int, err error) {
	err = s.self("read", vfsops.OpRead, func(t transport, h handleID) (err error) {
		n, err = t.Read(h, p)
		return err
	})
	return max(n, 0), err
}

func (s *Served) Pread(p []byte, off int64) (n int, err error) {
	err = s.self("read", vfsops.OpPread, func(t transport, h handleID) (err error) {
		n, err = t.Pread(h, p, off)
		return err
	})
	return max(n, 0), err
}

// Write needs write, or append for a file opened O_APPEND, where the
// kernel puts every byte at the end (File.Write's rule).
func (s *Served) Write(p []byte) (n int, err error) {
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

func (s *Served) Pwrite(p []byte, off int64) (n int, err error) {
	err = s.self("write", vfsops.OpPwrite, func(t transport, h handleID) (err error) {
		n, err = t.Pwrite(h, p, off)
		return err
	})
	return max(n, 0), err
}

func (s *Served) Seek(off int64, whence int) (pos int64, err error) {
	err = s.self("seek", vfsops.OpSeek, func(t transport, h handleID) (err error) {
		pos, err = t.Seek(h, off, whence)
		return err
	})
	return pos, err
}

func (s *Served) ReadDirents(buf []byte) (n int, err error) {
	err = s.self("readdir", vfsops.OpReaddir, func(t transport, h handleID) (err error) {
		n, err = t.ReadDirents(h, buf)
		return err
	})
	return max(n, 0), err
}

func (s *Served) Getxattr(name string) (val []byte, err error) {
	err = s.self("getxattr", vfsops.OpXattrGet, func(t transport, h handleID) (err error) {
		val, err = t.Getxattr(h, name)
		return err
	})
	return val, err
}

func (s *Served) Setxattr(name string, value []byte, flags int) error {
	return s.self("setxattr", vfsops.OpXattrSet, func(t transport, h handleID) error { return t.Setxattr(h, name, value, flags) })
}

func (s *Served) Listxattr() (names []string, err error) {
	err = s.self("listxattr", vfsops.OpXattrList, func(t transport, h handleID) (err error) {
		names, err = t.Listxattr(h)
		return err
	})
	return names, err
}

func (s *Served) Removexattr(name string) error {
	return s.self("removexattr", vfsops.OpXattrRemove, func(t transport, h handleID) error { return t.Removexattr(h, name) })
}
