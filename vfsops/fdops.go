package vfsops

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Operations on an open fd. They need no resolution, so they are thin: the
// value they add is errors with context, EINTR handling, and a route for
// O_PATH fds where the plain system call refuses them (EBADF).

// Fstat returns the status of fd; O_PATH fds work.
func Fstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	return st, fdError("fstat", fd, ignoringEINTR(func() error { return unix.Fstat(fd, &st) }))
}

// Ftruncate sets the size of the file open for writing on fd.
func Ftruncate(fd int, size int64) error {
	return fdError("ftruncate", fd, ignoringEINTR(func() error { return unix.Ftruncate(fd, size) }))
}

// Fchmod changes the mode of the file on fd, which may be an O_PATH fd.
func Fchmod(fd int, mode uint32) error { return fdError("fchmod", fd, fchmod(fd, mode)) }

// fchmod prefers fchmodat2(fd, "", AT_EMPTY_PATH) (Linux 6.6), which works
// on O_PATH fds. Before it, fchmod(2) works on fds that are not O_PATH, and
// for O_PATH fds the file is reached through the hardened procfs handle.
func fchmod(fd int, mode uint32) error {
	err := ignoringEINTR(func() error { return unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH) })
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS && err != unix.EINVAL {
		return err
	}
	err = ignoringEINTR(func() error { return unix.Fchmod(fd, mode) })
	if err != unix.EBADF {
		return err
	}
	return withProcFd(fd, func(procfd int, name string) error {
		return unix.Fchmodat(procfd, name, mode, 0)
	})
}

// Fchown changes the owner of the file on fd (an O_PATH fd of a symlink
// changes the symlink). uid or gid -1 leaves that id alone.
func Fchown(fd int, uid, gid int) error { return fdError("fchown", fd, fchown(fd, uid, gid)) }

// fchown uses fchownat(fd, "", AT_EMPTY_PATH), which accepts O_PATH fds on
// every kernel that has O_PATH.
func fchown(fd int, uid, gid int) error {
	return ignoringEINTR(func() error { return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH) })
}

// Futimes sets the access and modification times of the file on fd, which
// may be an O_PATH fd (of a symlink, to change the symlink).
func Futimes(fd int, atime, mtime unix.Timespec) error {
	return fdError("futimes", fd, futimes(fd, atime, mtime))
}

// futimes uses utimensat(fd, "", AT_EMPTY_PATH) (Linux 5.8); before that the
// file is reached through the hardened procfs handle.
func futimes(fd int, atime, mtime unix.Timespec) error {
	ts := []unix.Timespec{atime, mtime}
	err := ignoringEINTR(func() error { return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH) })
	if err != unix.EINVAL && err != unix.ENOENT {
		return err
	}
	return withProcFd(fd, func(procfd int, name string) error {
		return unix.UtimesNanoAt(procfd, name, ts, 0)
	})
}

// Fsync flushes the file on fd to storage.
func Fsync(fd int) error {
	return fdError("fsync", fd, ignoringEINTR(func() error { return unix.Fsync(fd) }))
}

// Flock applies or removes an advisory lock (unix.LOCK_SH, LOCK_EX, LOCK_UN,
// optionally |LOCK_NB).
func Flock(fd int, how int) error {
	return fdError("flock", fd, ignoringEINTR(func() error { return unix.Flock(fd, how) }))
}

// Read reads from fd at its offset.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fdError("read", fd, err)
		}
		return n, nil
	}
}

// Write writes to fd at its offset (or at the end, for O_APPEND).
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fdError("write", fd, err)
		}
		return n, nil
	}
}

// Pread reads from fd at off without moving its offset.
func Pread(fd int, p []byte, off int64) (int, error) {
	for {
		n, err := unix.Pread(fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fdError("pread", fd, err)
		}
		return n, nil
	}
}

// Pwrite writes to fd at off without moving its offset. On an O_APPEND fd
// Linux appends anyway, so pwrite cannot rewrite an append-only file.
func Pwrite(fd int, p []byte, off int64) (int, error) {
	for {
		n, err := unix.Pwrite(fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fdError("pwrite", fd, err)
		}
		return n, nil
	}
}

// Seek moves the offset of fd.
func Seek(fd int, off int64, whence int) (int64, error) {
	n, err := unix.Seek(fd, off, whence)
	if err != nil {
		return 0, fdError("seek", fd, err)
	}
	return n, nil
}

// Close closes fd. It is not retried on EINTR: on Linux the fd is released
// even then, and a retry could close an fd another goroutine just got.
func Close(fd int) error { return fdError("close", fd, unix.Close(fd)) }

func fdName(fd int) string { return strconv.Itoa(fd) }

// Statx returns the extended status of the file on fd (statx(fd, "",
// AT_EMPTY_PATH)); O_PATH fds work. mask is the STATX_* fields wanted;
// flags may carry AT_STATX_SYNC_TYPE bits, all others are dropped: with
// AT_EMPTY_PATH there is no name a symlink flag could apply to.
func Statx(fd int, mask int, flags int) (unix.Statx_t, error) {
	var stx unix.Statx_t
	flags = unix.AT_EMPTY_PATH | flags&atStatxSyncType
	return stx, fdError("statx", fd, ignoringEINTR(func() error { return unix.Statx(fd, "", flags, mask, &stx) }))
}

// atStatxSyncType is AT_STATX_SYNC_TYPE, which x/sys/unix does not name.
const atStatxSyncType = unix.AT_STATX_FORCE_SYNC | unix.AT_STATX_DONT_SYNC

// Fstatfs returns the status of the filesystem holding the file on fd;
// O_PATH fds work.
func Fstatfs(fd int) (unix.Statfs_t, error) {
	var st unix.Statfs_t
	return st, fdError("fstatfs", fd, ignoringEINTR(func() error { return unix.Fstatfs(fd, &st) }))
}

// Access checks the file on fd for mode (unix.R_OK, W_OK, X_OK, or F_OK)
// with the thread's effective ids, as an open or exec would
// (faccessat2(fd, "", mode, AT_EMPTY_PATH|AT_EACCESS), Linux 5.8); O_PATH
// fds work.
func Access(fd int, mode uint32) error {
	return fdError("access", fd, ignoringEINTR(func() error {
		return unix.Faccessat2(fd, "", mode, unix.AT_EMPTY_PATH|unix.AT_EACCESS)
	}))
}

// ReadlinkFd returns the target of the symlink an O_PATH|O_NOFOLLOW fd
// refers to (readlinkat(fd, "")). Any other fd fails as readlinkat(2)
// fails on it (ENOENT, or EINVAL before Linux 5.x for fds of non-links).
func ReadlinkFd(fd int) (string, error) {
	target, err := readlinkat(fd, "")
	return target, fdError("readlink", fd, err)
}

// Fallocate allocates, punches or zeroes the byte range [off, off+length)
// of the file open for writing on fd; mode is unix.FALLOC_FL_*.
func Fallocate(fd int, mode uint32, off, length int64) error {
	return fdError("fallocate", fd, ignoringEINTR(func() error { return unix.Fallocate(fd, mode, off, length) }))
}
