package vfsops

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Extended attributes on an open fd. The f*xattr calls refuse O_PATH fds
// (EBADF); for those the file is reopened read-only through Reopen, which
// needs read permission on the file where the kernel would not. Callers
// that want xattrs of a file they may not read should open it for reading
// in the first place.

// maxXattrSize is XATTR_SIZE_MAX: no attribute value is larger.
const maxXattrSize = 64 << 10

// Getxattr returns the value of attribute name of the file on fd.
func Getxattr(fd int, name string) ([]byte, error) {
	var val []byte
	err := withReadableFd(fd, func(fd int) error {
		var err error
		val, err = readSized(func(buf []byte) (int, error) { return unix.Fgetxattr(fd, name, buf) })
		return err
	})
	return val, fdError("getxattr "+name, fd, err)
}

// Setxattr sets attribute name of the file on fd (flags: unix.XATTR_CREATE,
// unix.XATTR_REPLACE or 0).
func Setxattr(fd int, name string, val []byte, flags int) error {
	return fdError("setxattr "+name, fd, withReadableFd(fd, func(fd int) error {
		return ignoringEINTR(func() error { return unix.Fsetxattr(fd, name, val, flags) })
	}))
}

// Removexattr removes attribute name of the file on fd.
func Removexattr(fd int, name string) error {
	return fdError("removexattr "+name, fd, withReadableFd(fd, func(fd int) error {
		return ignoringEINTR(func() error { return unix.Fremovexattr(fd, name) })
	}))
}

// Listxattr returns the attribute names of the file on fd.
func Listxattr(fd int) ([]string, error) {
	var list []byte
	err := withReadableFd(fd, func(fd int) error {
		var err error
		list, err = readSized(func(buf []byte) (int, error) { return unix.Flistxattr(fd, buf) })
		return err
	})
	if err != nil {
		return nil, fdError("listxattr", fd, err)
	}
	var names []string
	for _, n := range strings.Split(string(list), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// withReadableFd runs fn on fd, or, if fd is O_PATH, on a read-only reopen.
func withReadableFd(fd int, fn func(fd int) error) error {
	err := fn(fd)
	if err != unix.EBADF || !isOPath(fd) {
		return err
	}
	rfd, rerr := Reopen(fd, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if rerr != nil {
		return rerr
	}
	defer unix.Close(rfd)
	return fn(rfd)
}

// isOPath reports whether fd was opened with O_PATH.
func isOPath(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_PATH != 0
}

// readSized calls read with a growing buffer until the value fits.
func readSized(read func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := read(nil) // size query
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, min(n+n/4+16, maxXattrSize))
		n, err = read(buf)
		if err == unix.ERANGE || err == unix.EINTR {
			continue // grew between the two calls
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
