package notify

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// stat(path, buf)
func sysStat(c *call) result {
	return c.fstatat(unix.AT_FDCWD, c.arg(0), c.arg(1), 0, "stat")
}

// lstat(path, buf)
func sysLstat(c *call) result {
	return c.fstatat(unix.AT_FDCWD, c.arg(0), c.arg(1), unix.AT_SYMLINK_NOFOLLOW, "stat")
}

// newfstatat(dirfd, path, buf, flags): glibc's fstat(fd) is
// fstatat(fd, "", buf, AT_EMPTY_PATH), so the fd form is the common one.
func sysNewfstatat(c *call) result {
	return c.fstatat(c.argFd(0), c.arg(1), c.arg(2), int(int32(c.arg(3))), "stat")
}

// atStatxSyncType is AT_STATX_SYNC_TYPE, missing from x/sys.
const atStatxSyncType = 0x6000

const statFlags = unix.AT_SYMLINK_NOFOLLOW | unix.AT_EMPTY_PATH | unix.AT_NO_AUTOMOUNT

func (c *call) fstatat(dirfd int32, addr, buf uint64, flags int, op string) result {
	if flags&^statFlags != 0 {
		return fail(unix.EINVAL)
	}
	fd, l, r, done := c.openForMeta(dirfd, addr, flags, asProbe(needFor(op, vfsops.Request{Op: vfsops.OpStat}, vfsops.OnDir)))
	if done {
		return r
	}
	defer unix.Close(fd)
	st, err := vfsops.Fstat(fd)
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	return okOrFault(c.writeMemory(buf, asBytes(&st)))
}

// statx(dirfd, path, flags, mask, buf)
func sysStatx(c *call) result {
	const op = "stat"
	dirfd, addr, flags, mask, buf := c.argFd(0), c.arg(1), int(int32(c.arg(2))), uint32(c.arg(3)), c.arg(4)
	if flags&^(statFlags|atStatxSyncType) != 0 || flags&atStatxSyncType == atStatxSyncType {
		return fail(unix.EINVAL)
	}
	if mask&unix.STATX__RESERVED != 0 {
		return fail(unix.EINVAL)
	}
	fd, l, r, done := c.openForMeta(dirfd, addr, flags, asProbe(needFor(op, vfsops.Request{Op: vfsops.OpStat}, vfsops.OnDir)))
	if done {
		return r
	}
	defer unix.Close(fd)
	// fd is an O_PATH descriptor (or the task's own fd): vfsops.Statx
	// acts on it without any lookup (AT_EMPTY_PATH).
	stx, err := vfsops.Statx(fd, int(mask), flags&atStatxSyncType)
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	return okOrFault(c.writeMemory(buf, asBytes(&stx)))
}

// statfs(path, buf)
func sysStatfs(c *call) result {
	const op = "statfs"
	buf := c.arg(1)
	fd, l, r, done := c.openForMeta(unix.AT_FDCWD, c.arg(0), 0, asProbe(needFor(op, vfsops.Request{Op: vfsops.OpStat}, vfsops.OnDir)))
	if done {
		return r
	}
	defer unix.Close(fd)
	st, err := vfsops.Fstatfs(fd)
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	return okOrFault(c.writeMemory(buf, asBytes(&st)))
}

func okOrFault(errno unix.Errno) result {
	if errno != 0 {
		return fail(errno)
	}
	return ok(0)
}

// openForMeta gives an O_PATH descriptor for the object a metadata call
// names: with AT_EMPTY_PATH and an empty (or, since Linux 6.11, NULL)
// path, a duplicate of the task's own fd; otherwise the path resolved
// beneath its grant after the rights check. AT_SYMLINK_NOFOLLOW opens a
// final symlink itself. done reports that r is the answer already.
func (c *call) openForMeta(dirfd int32, addr uint64, flags int, n need) (fd int, l location, r result, done bool) {
	var p string
	if addr != 0 || flags&unix.AT_EMPTY_PATH == 0 {
		var errno unix.Errno
		p, errno = c.readPath(addr, &c.path)
		if errno != 0 {
			return -1, l, fail(errno), true
		}
	}
	byName := false
	if fd, ok := descriptorName(p); ok && flags&unix.AT_SYMLINK_NOFOLLOW == 0 {
		// A descriptor's name, followed (/proc/self/fd/N, /dev/fd/N,
		// /dev/stdin...: ops_reopen_linux.go): the fd form on the
		// object open on the task's descriptor N. A stat is the fstat
		// the task could make; a change (glibc's fchmodat with
		// AT_SYMLINK_NOFOLLOW opens the file O_PATH and changes it
		// through /proc/self/fd/N) is decided by that object's rights.
		dirfd, p, flags, byName = fd, "", flags|unix.AT_EMPTY_PATH, true
	}
	if p == "" && flags&unix.AT_EMPTY_PATH != 0 {
		if dirfd == unix.AT_FDCWD {
			p = "."
		} else {
			// The task holds this descriptor already, and fstat(2) on it
			// is allowed natively: nothing to check for a probe. A change
			// (futimens, fchownat(fd, "", AT_EMPTY_PATH)) is decided by
			// the object's rights (ops_fd_linux.go).
			fd, errno := c.taskFd(dirfd)
			if errno == unix.EBADF && byName {
				errno = unix.ENOENT // what the name of a closed descriptor answers
			}
			if errno != 0 {
				return -1, l, resultFor(errno), true
			}
			if abs, ok := c.s.standins.of(fd); ok {
				// An O_PATH stand-in: the object it stands for, by
				// name, its final symlink not followed.
				unix.Close(fd)
				return c.openLocated(unix.AT_FDCWD, abs, flags|unix.AT_SYMLINK_NOFOLLOW, n)
			}
			if !n.probe {
				if errno := c.checkObject(fd, n.op, n.object); errno != 0 {
					unix.Close(fd)
					return -1, l, fail(errno), true
				}
			}
			return fd, l, result{}, false
		}
	}
	return c.openLocated(dirfd, p, flags, n)
}

// openLocated is openForMeta for a path already read: an O_PATH
// descriptor of the object (dirfd, p) names, once checked against n.
func (c *call) openLocated(dirfd int32, p string, flags int, n need) (fd int, l location, r result, done bool) {
	l, errno := c.locate(dirfd, p)
	if errno != 0 {
		return -1, l, resultFor(errno), true
	}
	if l.g != nil && l.rest == ".." && skeletonAnswers(n) {
		// The directory above a grant's root (ls -la's ".." of a
		// granted directory): whatever holds it, a grant or the
		// skeleton, answers, as for its own name.
		if parent := path.Dir(strings.TrimSuffix(l.abs, "/..")); parent != strings.TrimSuffix(l.abs, "/..") {
			return c.openLocated(unix.AT_FDCWD, parent, flags, n)
		}
	}
	if l.g == nil && skeletonAnswers(n) {
		// An ancestor of a grant: the skeleton's own descriptor.
		if anc, ok := c.s.grants.ancestor(l.abs); ok {
			fd, err := vfsops.Dup(anc)
			if err != nil {
				return -1, l, fail(unix.EMFILE), true
			}
			return fd, l, result{}, false
		}
		// An entry of the /proc view.
		if pp, ok := c.procOf(l.abs); ok {
			if fd, ok, errno := c.procOpenMeta(pp); errno != 0 {
				return -1, l, resultFor(errno), true
			} else if ok {
				return fd, l, result{}, false
			}
		}
	}
	n.follow = flags&unix.AT_SYMLINK_NOFOLLOW == 0
	if errno := c.check(&l, n); errno != 0 {
		return -1, l, fail(errno), true
	}
	if l.g.fd < 0 {
		return -1, l, fail(unix.ENOENT), true
	}
	oflags := unix.O_PATH
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		oflags |= unix.O_NOFOLLOW
	}
	if l.rest == "." {
		// The granted object itself: a duplicate of the grant's O_PATH
		// descriptor.
		fd, err := vfsops.Dup(l.g.fd)
		if err != nil {
			return -1, l, fail(unix.EMFILE), true
		}
		return fd, l, result{}, false
	}
	fd = -1
	l, errno, err := c.resolveOut(l, n, func(at location) error {
		if at.rest == "." {
			var err error
			fd, err = vfsops.Dup(at.g.fd)
			return err
		}
		// The lookup needs search permission on every directory on the
		// way, as the task's own would.
		return c.asCaller(func() (err error) {
			fd, err = vfsops.OpenBeneath(at.g.fd, at.rest, oflags, 0, at.how())
			return err
		})
	})
	switch {
	case errno != 0:
		return -1, l, fail(errno), true
	case err != nil:
		return -1, l, fail(c.errnoOf(n.op, l, err)), true
	}
	return fd, l, result{}, false
}
