package notify

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// chmod(path, mode)
func sysChmod(c *call) result { return c.fchmodat(unix.AT_FDCWD, c.arg(0), uint32(c.arg(1)), 0) }

// fchmodat(dirfd, path, mode): the kernel ignores a flags argument here.
func sysFchmodat(c *call) result { return c.fchmodat(c.argFd(0), c.arg(1), uint32(c.arg(2)), 0) }

// fchmodat2(dirfd, path, mode, flags)
func sysFchmodat2(c *call) result {
	return c.fchmodat(c.argFd(0), c.arg(1), uint32(c.arg(2)), int(int32(c.arg(3))))
}

func (c *call) fchmodat(dirfd int32, addr uint64, mode uint32, flags int) result {
	const op = "chmod"
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return fail(unix.EINVAL)
	}
	fd, l, r, done := c.openForMeta(dirfd, addr, flags, needFor(op, vfsops.Request{Op: vfsops.OpChmod}, vfsops.OnDir))
	if done {
		return r
	}
	defer unix.Close(fd)
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		// fchmodat2's AT_SYMLINK_NOFOLLOW (what glibc's fchmodat
		// with the flag calls, and GNU tar restoring directory modes):
		// a symlink has no mode on Linux; anything else is changed.
		st, err := vfsops.Fstat(fd)
		if err != nil {
			return fail(c.errnoOf(op, l, err))
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return fail(unix.EOPNOTSUPP)
		}
	}
	return c.errResult(op, l, c.asCaller(func() error { return vfsops.Fchmod(fd, mode&0o7777) }))
}

// chown(path, uid, gid)
func sysChown(c *call) result {
	return c.fchownat(unix.AT_FDCWD, c.arg(0), c.arg(1), c.arg(2), 0)
}

// lchown(path, uid, gid)
func sysLchown(c *call) result {
	return c.fchownat(unix.AT_FDCWD, c.arg(0), c.arg(1), c.arg(2), unix.AT_SYMLINK_NOFOLLOW)
}

// fchownat(dirfd, path, uid, gid, flags)
func sysFchownat(c *call) result {
	return c.fchownat(c.argFd(0), c.arg(1), c.arg(2), c.arg(3), int(int32(c.arg(4))))
}

func (c *call) fchownat(dirfd int32, addr, uid, gid uint64, flags int) result {
	const op = "chown"
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return fail(unix.EINVAL)
	}
	// Whether the call keeps the owner and group (and so needs chmod,
	// not chown) only the object tells: it is found with lookup alone,
	// then checked for what its own ids say the call needs.
	n := needFor(op, vfsops.Request{Op: vfsops.OpChown}, vfsops.OnDir)
	n.object = 0
	fd, l, r, done := c.openForMeta(dirfd, addr, flags, n)
	if done {
		return r
	}
	defer unix.Close(fd)
	var (
		o      fdObject
		object rights.Rights
	)
	if l.g == nil {
		// The task's own descriptor (AT_EMPTY_PATH, a descriptor's
		// name), or a view outside the grants: the object decides.
		o = c.objectOf(fd)
		object = o.objectRights()
	} else {
		object, _ = l.rightsAt()
	}
	need := rights.Chown
	if !object.Has(need) {
		need = chownNeed(fd, int(int32(uid)), int(int32(gid)), vfsops.OpChown, vfsops.OnObject)
	}
	if l.g == nil {
		if errno := c.checkObjectOf(o, op, need); errno != 0 {
			return fail(errno)
		}
	} else if !object.Has(need) {
		c.refuse(op, l.abs, object.Missing(need), l.g.describe())
		return fail(unix.EACCES)
	}
	// fchownat(fd, "", AT_EMPTY_PATH) works on O_PATH fds, symlinks
	// included, and walks no path.
	err := c.asCaller(func() error {
		return vfsops.Fchown(fd, int(int32(uid)), int(int32(gid)))
	})
	return c.errResult(op, l, err)
}

// utimensat(dirfd, path, times, flags); a NULL path is futimens(dirfd).
func sysUtimensat(c *call) result {
	const op = "chtimes"
	dirfd, addr, timesAddr, flags := c.argFd(0), c.arg(1), c.arg(2), int(int32(c.arg(3)))
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return fail(unix.EINVAL)
	}
	times := [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	if timesAddr != 0 {
		var raw [32]byte
		if errno := readMemory(c.pid(), timesAddr, raw[:]); errno != 0 {
			return fail(errno)
		}
		for i := range times {
			times[i].Sec = int64(binary.NativeEndian.Uint64(raw[16*i:]))
			times[i].Nsec = int64(binary.NativeEndian.Uint64(raw[16*i+8:]))
		}
	}
	if addr == 0 {
		flags |= unix.AT_EMPTY_PATH
	}
	fd, l, r, done := c.openForMeta(dirfd, addr, flags, needFor(op, vfsops.Request{Op: vfsops.OpChtimes}, vfsops.OnDir))
	if done {
		return r
	}
	defer unix.Close(fd)
	return c.errResult(op, l, c.asCaller(func() error { return vfsops.Futimes(fd, times[0], times[1]) }))
}

// truncate(path, length)
func sysTruncate(c *call) result {
	const op = "truncate"
	length := int64(c.arg(1))
	if length < 0 {
		return fail(unix.EINVAL)
	}
	p, errno := c.readPath(c.arg(0), &c.path)
	if errno != 0 {
		return fail(errno)
	}
	l, errno := c.locate(unix.AT_FDCWD, p)
	if errno != 0 {
		return resultFor(errno)
	}
	if errno := c.check(&l, withFollow(needFor(op, vfsops.Request{Op: vfsops.OpTruncate}, vfsops.OnDir))); errno != 0 {
		return fail(errno)
	}
	if l.g.fd < 0 {
		return fail(unix.ENOENT)
	}
	// truncate(2) needs the file writable; O_NONBLOCK keeps a FIFO from
	// blocking the supervisor (ftruncate then fails on it, as natively).
	fd, err := c.openAt(l, l.g.fd, l.rest, unix.O_WRONLY|unix.O_NONBLOCK, 0, l.how())
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	defer unix.Close(fd)
	// As the task too: truncating clears set-user-ID bits unless the
	// caller holds CAP_FSETID.
	return c.errResult(op, l, c.asCaller(func() error { return vfsops.Ftruncate(fd, length) }))
}

// The xattr syscalls that take a path are not served: they answer
// EOPNOTSUPP, the "this filesystem has no xattrs" answer programs such as
// ls already handle. The fd forms run natively.
func sysXattrUnsupported(c *call) result { return fail(unix.EOPNOTSUPP) }
