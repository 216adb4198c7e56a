package capfd

import (
	"errors"
	"io/fs"
	"path"
	"time"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Stat returns information about the file.
func (f *File) Stat() (fs.FileInfo, error) {
	if err := f.check("stat", vfsops.OpFstat); err != nil {
		return nil, err
	}
	if err := f.use("stat"); err != nil {
		return nil, err
	}
	defer f.done()
	st, err := f.t.Fstat(f.h)
	if err != nil {
		return nil, pathError("stat", f.name, err)
	}
	return newFileInfo(path.Base(f.name), &st), nil
}

// Truncate changes the size of the file.
func (f *File) Truncate(size int64) error {
	if err := f.check("truncate", vfsops.OpFtruncate); err != nil {
		return err
	}
	if err := f.use("truncate"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Ftruncate(f.h, size); err != nil {
		return pathError("truncate", f.name, err)
	}
	return nil
}

// Sync commits the file's contents to stable storage (fsync).
func (f *File) Sync() error {
	if err := f.check("sync", vfsops.OpSync); err != nil {
		return err
	}
	if err := f.use("sync"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Fsync(f.h); err != nil {
		return pathError("sync", f.name, err)
	}
	return nil
}

// Chmod changes the file's mode.
func (f *File) Chmod(mode fs.FileMode) error {
	if err := f.check("chmod", vfsops.OpFchmod); err != nil {
		return err
	}
	if err := f.use("chmod"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Fchmod(f.h, syscallMode(mode)); err != nil {
		return pathError("chmod", f.name, err)
	}
	return nil
}

// Chown changes the file's owner and group; -1 leaves an id unchanged.
func (f *File) Chown(uid, gid int) error {
	if err := f.use("chown"); err != nil {
		return err
	}
	defer f.done()
	if err := f.checkRequest("chown", f.chownRequest(uid, gid)); err != nil {
		return err
	}
	if err := f.t.Fchown(f.h, uid, gid); err != nil {
		return pathError("chown", f.name, err)
	}
	return nil
}

// Chtimes changes the file's access and modification times; a zero
// time.Time leaves that time unchanged.
func (f *File) Chtimes(atime, mtime time.Time) error {
	if err := f.check("chtimes", vfsops.OpFutimes); err != nil {
		return err
	}
	if err := f.use("chtimes"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Futimes(f.h, timespec(atime), timespec(mtime)); err != nil {
		return pathError("chtimes", f.name, err)
	}
	return nil
}

// Lock takes an advisory flock(2) lock on the file, shared or exclusive,
// waiting until it is granted.
func (f *File) Lock(exclusive bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	return f.flock("lock", how)
}

// TryLock is Lock without waiting: it reports false if another open file
// holds a conflicting lock.
func (f *File) TryLock(exclusive bool) (bool, error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	err := f.flock("lock", how|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// Unlock releases a lock taken with Lock or TryLock.
func (f *File) Unlock() error { return f.flock("unlock", unix.LOCK_UN) }

func (f *File) flock(opName string, how int) error {
	if err := f.check(opName, vfsops.OpLock); err != nil {
		return err
	}
	if err := f.use(opName); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Flock(f.h, how); err != nil {
		return pathError(opName, f.name, err)
	}
	return nil
}

// GetXattr returns the value of the extended attribute name.
func (f *File) GetXattr(name string) ([]byte, error) {
	if err := f.check("getxattr", vfsops.OpXattrGet); err != nil {
		return nil, err
	}
	if err := f.use("getxattr"); err != nil {
		return nil, err
	}
	defer f.done()
	v, err := f.t.Getxattr(f.h, name)
	if err != nil {
		return nil, pathError("getxattr", f.name, err)
	}
	return v, nil
}

// SetXattr sets the extended attribute name; flags is 0, XATTR_CREATE or
// XATTR_REPLACE.
func (f *File) SetXattr(name string, value []byte, flags int) error {
	if err := f.check("setxattr", vfsops.OpXattrSet); err != nil {
		return err
	}
	if err := f.use("setxattr"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Setxattr(f.h, name, value, flags); err != nil {
		return pathError("setxattr", f.name, err)
	}
	return nil
}

// RemoveXattr removes the extended attribute name.
func (f *File) RemoveXattr(name string) error {
	if err := f.check("removexattr", vfsops.OpXattrRemove); err != nil {
		return err
	}
	if err := f.use("removexattr"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Removexattr(f.h, name); err != nil {
		return pathError("removexattr", f.name, err)
	}
	return nil
}

// ListXattr returns the names of the file's extended attributes.
func (f *File) ListXattr() ([]string, error) {
	if err := f.check("listxattr", vfsops.OpXattrList); err != nil {
		return nil, err
	}
	if err := f.use("listxattr"); err != nil {
		return nil, err
	}
	defer f.done()
	names, err := f.t.Listxattr(f.h)
	if err != nil {
		return nil, pathError("listxattr", f.name, err)
	}
	return names, nil
}

// Exec replaces the running program with the file (execveat with
// AT_EMPTY_PATH), so no path is looked up. It returns only on failure.
// argv[0] is the program's name as the new program sees it.
func (f *File) Exec(argv, envv []string) error {
	if err := f.check("exec", vfsops.OpExec); err != nil {
		return err
	}
	if err := f.use("exec"); err != nil {
		return err
	}
	defer f.done()
	if err := f.t.Exec(f.h, argv, envv); err != nil {
		return pathError("exec", f.name, err)
	}
	return nil
}

// chownRequest is a chown of the file to uid and gid as vfsops decides it
// (Request.KeepsOwner: one that keeps the owner and group needs chmod);
// the file's ids are read only when its rights lack chown. The caller
// holds f in use.
func (f *File) chownRequest(uid, gid int) vfsops.Request {
	req := vfsops.Request{Op: vfsops.OpFchown}
	if f.rights.Has(rights.Chown) || !f.rights.Has(vfsops.Request{Op: vfsops.OpFchown, KeepsOwner: true}.On(vfsops.OnHandle)) {
		return req // allowed, or refused, either way
	}
	if st, err := f.t.Fstat(f.h); err == nil {
		req.KeepsOwner = vfsops.KeepsOwner(uid, gid, st.Uid, st.Gid)
	}
	return req
}
