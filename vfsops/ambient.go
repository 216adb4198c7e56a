package vfsops

import "golang.org/x/sys/unix"

// OpenDirAmbient opens path as an O_PATH directory handle, resolved the
// ordinary way from the process's root and working directory. It is the one
// ambient lookup capfd makes — the step a program takes before it restricts
// itself to capabilities — and it lives here so that every filesystem system
// call stays in this package.
func OpenDirAmbient(path string) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, pathError("open", path, err)
	}
	for {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, pathError("open", path, err)
		}
		return fd, nil
	}
}

// Dup returns a new descriptor for the same open file, close-on-exec from
// the start (F_DUPFD_CLOEXEC: no window in which a concurrent fork+exec
// could inherit it).
func Dup(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fdError("dup", fd, err)
	}
	return nfd, nil
}

// StatusFlags returns the file status flags of fd (F_GETFL): its access mode
// and O_APPEND, which the broker checks before handing a descriptor out.
func StatusFlags(fd int) (int, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return 0, fdError("fcntl F_GETFL", fd, err)
	}
	return fl, nil
}

// OpenObjectAmbient opens path as an O_PATH handle of whatever it names
// (following symlinks), resolved the ordinary way like OpenDirAmbient: for
// trusted configuration (the grants a supervisor is started with), never
// for a name a confined program supplied.
func OpenObjectAmbient(path string) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, pathError("open", path, err)
	}
	for {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, pathError("open", path, err)
		}
		return fd, nil
	}
}

// SetStatusFlags sets the file status flags of fd (F_SETFL: O_APPEND,
// O_NONBLOCK, O_DIRECT, O_NOATIME, O_ASYNC; the access mode and creation
// flags are ignored by the kernel). The flags belong to the open file
// description, so every descriptor sharing it sees the change.
func SetStatusFlags(fd int, flags int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return fdError("fcntl F_SETFL", fd, err)
}

// ExistsAmbient reports whether path names an entry (a final symlink
// counts, dangling or not), resolved the ordinary way. It is for reports
// only: a supervisor tells in its log whether a refused path exists on the
// host at all (a refusal of a missing path changed nothing), and nothing
// is opened or answered from it.
func ExistsAmbient(path string) bool {
	if checkPath(path) != nil {
		return false
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(unix.AT_FDCWD, path, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
