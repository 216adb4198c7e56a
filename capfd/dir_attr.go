package capfd

import (
	"io/fs"
	"path"
	"time"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Stat returns information about name, following a final symlink (beneath
// d only).
func (d *Dir) Stat(name string) (fs.FileInfo, error) { return d.stat("stat", name, true) }

// Lstat returns information about name without following a final symlink.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) { return d.stat("lstat", name, false) }

func (d *Dir) stat(opName, name string, follow bool) (fs.FileInfo, error) {
	st, err := d.statAt(opName, name, 0, follow)
	if err != nil {
		return nil, err
	}
	return newFileInfo(path.Base(name), &st), nil
}

// The variants take resolve options extra, added to d's, as the entry
// operations' do (dir_entry.go).

func (d *Dir) statAt(opName, name string, extra Resolve, follow bool) (st unix.Stat_t, err error) {
	if pl := d.placing(); pl != nil {
		err = d.viaPlace(pl, opName, name, extra, lookupOr(follow), objectNeed(vfsops.OpStat), func(a *placedAt) (err error) {
			st, err = a.ps.statAt(opName, a.name, extra, follow)
			return err
		})
		return st, err
	}
	err = d.entry(opName, vfsops.OpStat, name, func() (err error) {
		st, err = d.t.Stat(d.h, name, d.how|extra, follow)
		return err
	})
	return st, err
}

// Chmod changes the mode of name (following a final symlink beneath d).
func (d *Dir) Chmod(name string, mode fs.FileMode) error { return d.chmod(name, syscallMode(mode), 0) }

func (d *Dir) chmod(name string, mode uint32, extra Resolve) error {
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "chmod", name, extra, followFinal, objectNeed(vfsops.OpChmod), func(a *placedAt) error { return a.ps.chmod(a.name, mode, extra) })
	}
	return d.entry("chmod", vfsops.OpChmod, name, func() error { return d.t.Chmod(d.h, name, mode, d.how|extra) })
}

// Chown changes the owner and group of name, following a final symlink;
// -1 leaves an id unchanged.
func (d *Dir) Chown(name string, uid, gid int) error {
	return d.chown("chown", name, uid, gid, 0, true)
}

// Lchown is Chown on the symlink itself.
func (d *Dir) Lchown(name string, uid, gid int) error {
	return d.chown("lchown", name, uid, gid, 0, false)
}

func (d *Dir) chown(opName, name string, uid, gid int, extra Resolve, follow bool) error {
	req := d.chownRequest(name, uid, gid, extra, follow)
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, opName, name, extra, lookupOr(follow), req.On(vfsops.OnObject), func(a *placedAt) error {
			return a.ps.chown(opName, a.name, uid, gid, extra, follow)
		})
	}
	return d.entryRequest(opName, req, name, func() error { return d.t.Chown(d.h, name, uid, gid, d.how|extra, follow) })
}

// chownRequest is a chown of name to uid and gid as vfsops decides it:
// one that keeps the owner and group needs chmod, not chown
// (Request.KeepsOwner), which only the object's own ids tell. They are
// read only when it matters, when d's rights lack chown somewhere but
// would allow a chown that keeps them; a name that cannot be read is taken
// as changing them (the stricter need).
func (d *Dir) chownRequest(name string, uid, gid int, extra Resolve, follow bool) vfsops.Request {
	req := vfsops.Request{Op: vfsops.OpChown}
	keeps := vfsops.Request{Op: vfsops.OpChown, KeepsOwner: true}
	if d.rights.Base.Has(rights.Chown) && d.rights.Inherit.Has(rights.Chown) || d.check("chown", keeps, vfsops.OnDir, name) != nil {
		// Allowed either way, or refused either way: refused before
		// anything reaches the transport.
		return req
	}
	if st, err := d.t.Stat(d.h, name, d.how|extra, follow); err == nil {
		req.KeepsOwner = vfsops.KeepsOwner(uid, gid, st.Uid, st.Gid)
	}
	return req
}

// Chtimes changes the access and modification times of name, like
// os.Chtimes: a zero time.Time leaves that time unchanged.
func (d *Dir) Chtimes(name string, atime, mtime time.Time) error {
	return d.chtimes(name, timespec(atime), timespec(mtime), 0, true)
}

// chtimes takes the times as utimensat does (UTIME_OMIT, UTIME_NOW).
func (d *Dir) chtimes(name string, atime, mtime unix.Timespec, extra Resolve, follow bool) error {
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "chtimes", name, extra, lookupOr(follow), objectNeed(vfsops.OpChtimes), func(a *placedAt) error {
			return a.ps.chtimes(a.name, atime, mtime, extra, follow)
		})
	}
	return d.entry("chtimes", vfsops.OpChtimes, name, func() error {
		return d.t.Chtimes(d.h, name, atime, mtime, d.how|extra, follow)
	})
}

// Truncate changes the size of the regular file name.
func (d *Dir) Truncate(name string, size int64) error { return d.truncate(name, size, 0) }

func (d *Dir) truncate(name string, size int64, extra Resolve) error {
	if size < 0 {
		return pathError("truncate", name, unix.EINVAL)
	}
	if pl := d.placing(); pl != nil {
		return d.viaPlace(pl, "truncate", name, extra, followFinal, objectNeed(vfsops.OpTruncate), func(a *placedAt) error {
			return a.ps.truncate(a.name, size, extra)
		})
	}
	return d.entry("truncate", vfsops.OpTruncate, name, func() error { return d.t.Truncate(d.h, name, size, d.how|extra) })
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}
