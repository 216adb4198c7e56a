package vfsops

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Unix sockets by file.
//
// connect(2) and bind(2) take a Unix socket's file as a path in the
// address (sun_path), resolved by the kernel from the caller's working
// directory with no openat-style anchor and no RESOLVE_ flags. The only
// way to make them act on a file this package has already resolved safely
// is a path that names the descriptor: the calling thread's own procfs
// entry for it, /proc/thread-self/fd/N, a magic link the kernel follows
// to exactly the file open on N. (bind creates its name, so it is given
// the directory's entry and the final name: .../fd/N/NAME.)
//
// A "/proc/..." string is only as good as the /proc mounted in the
// caller's mount namespace (procfs.go). These run in a supervisor whose
// confined clients cannot mount anything, but the mount may still not be
// procfs (a container's odd /proc): so each call first checks that the
// name leads to the descriptor's own file (same device and inode, through
// the kernel's resolution of the same string) and refuses otherwise.
//
// The caller must be locked to its OS thread: thread-self is the thread.

// maxSunPath is the room in sockaddr_un's sun_path, less its NUL.
const maxSunPath = len(unix.RawSockaddrUnix{}.Path) - 1

// ConnectUnix connects the Unix socket sock to the socket file open on
// obj (an O_PATH descriptor).
func ConnectUnix(sock, obj int) error {
	name, err := threadFdName(obj, "")
	if err != nil {
		return fdError("connect unix socket", obj, err)
	}
	return fdError("connect unix socket", obj, unix.Connect(sock, &unix.SockaddrUnix{Name: name}))
}

// BindUnix binds the Unix socket sock to a new socket file called name in
// the directory open on dir. name is a single component.
func BindUnix(sock, dir int, name string) error {
	if err := checkEntryName(name); err != nil {
		return pathError("bind unix socket", name, err)
	}
	at, err := threadFdName(dir, name)
	if err != nil {
		return pathError("bind unix socket", name, err)
	}
	return pathError("bind unix socket", name, unix.Bind(sock, &unix.SockaddrUnix{Name: at}))
}

// threadFdName is /proc/thread-self/fd/N, or .../N/name, once it is
// known to lead to fd's own file.
func threadFdName(fd int, name string) (string, error) {
	link := "/proc/thread-self/fd/" + fdName(fd)
	var want, got unix.Stat_t
	if err := unix.Fstat(fd, &want); err != nil {
		return "", err
	}
	if err := unix.Stat(link, &got); err != nil {
		return "", fmt.Errorf("procfs name of the descriptor: %w", err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		return "", fmt.Errorf("%s does not lead to the descriptor's file (is /proc procfs?): %w", link, unix.EXDEV)
	}
	if name != "" {
		link += "/" + name
	}
	if len(link) > maxSunPath {
		return "", unix.ENAMETOOLONG
	}
	return link, nil
}
