package notify

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// access(path, mode)
func sysAccess(c *call) result {
	return c.faccessat(unix.AT_FDCWD, c.arg(0), uint32(c.arg(1)), 0)
}

// faccessat(dirfd, path, mode)
func sysFaccessat(c *call) result {
	return c.faccessat(c.argFd(0), c.arg(1), uint32(c.arg(2)), 0)
}

// faccessat2(dirfd, path, mode, flags)
func sysFaccessat2(c *call) result {
	return c.faccessat(c.argFd(0), c.arg(1), uint32(c.arg(2)), int(int32(c.arg(3))))
}

// faccessat answers "may I?" in two layers: first the capability (R_OK
// needs read, W_OK write, X_OK exec; F_OK only the lookup), then the
// kernel's own permission check on the object, made on an O_PATH fd with
// AT_EMPTY_PATH so no path is walked. Lookup and check run with the task's
// credentials as access(2) takes them: its real uid and gid (and no
// capabilities unless the real uid is root) without AT_EACCESS, its
// filesystem ids and effective capabilities with it (asCaller). The
// supervisor's own check always passes AT_EACCESS, so that the kernel
// takes the credentials the thread was given, not the supervisor's real
// ids.
func (c *call) faccessat(dirfd int32, addr uint64, mode uint32, flags int) result {
	const op = "access"
	if mode&^(unix.R_OK|unix.W_OK|unix.X_OK) != 0 {
		return fail(unix.EINVAL)
	}
	if flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return fail(unix.EINVAL)
	}
	var want rights.Rights
	if mode&unix.R_OK != 0 {
		want |= rights.Read
	}
	if mode&unix.W_OK != 0 {
		want |= rights.Write
	}
	if mode&unix.X_OK != 0 {
		want |= rights.Exec
	}
	c.cred.realIDs = flags&unix.AT_EACCESS == 0
	fd, l, r, done := c.openForMeta(dirfd, addr, flags&(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH), need{op: op, probe: true})
	if done {
		return r
	}
	defer unix.Close(fd)
	if l.g == nil && mode&(unix.W_OK) != 0 {
		// The skeleton and the /proc view are read-only, whatever
		// the credentials could do directly.
		return fail(unix.EACCES)
	}
	if l.g != nil && want != 0 {
		object, _ := l.rightsAt()
		if mode&unix.X_OK != 0 && isDir(fd) {
			// X_OK on a directory asks for search: lookup.
			want = want&^rights.Exec | rights.Lookup
		}
		if !object.Has(want) {
			// An honest "no" to a question is not an attack: not logged
			// unless verbose.
			if c.s.verbose {
				c.refuse(op, l.abs, want.Missing(object), l.g.describe())
			}
			return fail(unix.EACCES)
		}
	}
	err := c.asCaller(func() error { return vfsops.Access(fd, mode) })
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	return ok(0)
}

func isDir(fd int) bool {
	var st unix.Stat_t
	return fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}
