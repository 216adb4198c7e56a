package capfd

import (
	"io/fs"
	"path"
	"time"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Stat returns information about name, following a final symlink (beneath
// d only).
func (d *Dir) Stat(name string) (fs.FileInfo, error) { return d.stat("stat", name, true) }

// Lstat returns information about name without following a final symlink.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) { return d.stat("lstat", name, false) }

func (d *Dir) stat(opName, name string, follow bool) (fs.FileInfo, error) {
	if d.placedLocal() {
		st, err := d.served().Stat(name, 0, follow)
		if err != nil {
			return nil, err
		}
		return newFileInfo(path.Base(name), &st), nil
	}
	if err := d.check(opName, vfsops.Request{Op: vfsops.OpStat}, vfsops.OnDir, name); err != nil {
		return nil, err
	}
	if err := d.use(opName, name); err != nil {
		return nil, err
	}
	defer d.done()
	st, err := d.t.Stat(d.h, name, d.how, follow)
	if err != nil {
		return nil, pathError(opName, name, err)
	}
	return newFileInfo(path.Base(name), &st), nil
}

// Chmod changes the mode of name (following a final symlink beneath d).
func (d *Dir) Chmod(name string, mode fs.FileMode) error {
	if d.placedLocal() {
		return d.served().Chmod(name, syscallMode(mode), 0)
	}
	if err := d.check("chmod", vfsops.Request{Op: vfsops.OpChmod}, vfsops.OnDir, name); err != nil {
		return err
	}
	if err := d.use("chmod", name); err != nil {
		return err
	}
	defer d.done()
	if err := d.t.Chmod(d.h, name, syscallMode(mode), d.how); err != nil {
		return pathError("chmod", name, err)
	}
	return nil
}

// Chown changes the owner and group of name, following a final symlink;
// -1 leaves an id unchanged.
func (d *Dir) Chown(name string, uid, gid int) error { return d.chown("chown", name, uid, gid, true) }

// Lchown is Chown on the symlink itself.
func (d *Dir) Lchown(name string, uid, gid int) error {
	return d.chown("lchown", name, uid, gid, false)
}

func (d *Dir) chown(opName, name string, uid, gid int, follow bool) error {
	if d.placedLocal() {
		return d.served().Chown(name, uid, gid, 0, follow)
	}
	if err := d.check(opName, vfsops.Request{Op: vfsops.OpChown}, vfsops.OnDir, name); err != nil {
		return err
	}
	if err := d.use(opName, name); err != nil {
		return err
	}
	defer d.done()
	if err := d.t.Chown(d.h, name, uid, gid, d.how, follow); err != nil {
		return pathError(opName, name, err)
	}
	return nil
}

// Chtimes changes the access and modification times of name, like
// os.Chtimes: a zero time.Time leaves that time unchanged.
func (d *Dir) Chtimes(name string, atime, mtime time.Time) error {
	if d.placedLocal() {
		return d.served().Chtimes(name, timespec(atime), timespec(mtime), 0, true)
	}
	if err := d.check("chtimes", vfsops.Request{Op: vfsops.OpChtimes}, vfsops.OnDir, name); err != nil {
		return err
	}
	if err := d.use("chtimes", name); err != nil {
		return err
	}
	defer d.done()
	if err := d.t.Chtimes(d.h, name, timespec(atime), timespec(mtime), d.how, true); err != nil {
		return pathError("chtimes", name, err)
	}
	return nil
}

// Truncate changes the size of the regular file name.
func (d *Dir) Truncate(name string, size int64) error {
	if d.placedLocal() {
		return d.served().Truncate(name, size, 0)
	}
	if err := d.check("truncate", vfsops.Request{Op: vfsops.OpTruncate}, vfsops.OnDir, name); err != nil {
		return err
	}
	if size < 0 {
		return pathError("truncate", name, unix.EINVAL)
	}
	if err := d.use("truncate", name); err != nil {
		return err
	}
	defer d.done()
	if err := d.t.Truncate(d.h, name, size, d.how); err != nil {
		return pathError("truncate", name, err)
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}
