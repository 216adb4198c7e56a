package vfsops

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// The hardened procfs handle.
//
// Some fd operations need a path on some kernels (reopening an O_PATH fd,
// fchmod of an O_PATH fd before fchmodat2). The path is
// /proc/thread-self/fd/N, a magic link, and a "/proc/..." string is not safe
// to use: /proc may not be procfs at all (a container runtime's bind mount, a
// tmpfs planted by an attacker), and something may be mounted over a
// subdirectory of it so that "fd/N" names a file of the attacker's choosing.
// filepath-securejoin documents these attacks (CVE-2019-16884,
// CVE-2019-19921 and runc's /proc overmount bugs); the defences below follow
// its reasoning.
//
// So every such access starts from a private procfs handle:
//
//  1. Best: a fresh procfs instance from fsopen("proc") + fsmount, never
//     attached to any mount namespace. Nobody else holds it, so nothing can
//     be mounted over any of its files. subset=pid hides everything but the
//     task directories and hidepid=ptraceable hides tasks we could not
//     ptrace anyway. This needs CAP_SYS_ADMIN in the user namespace that
//     owns our pid namespace.
//  2. Else a detached clone of the /proc mount (open_tree OPEN_TREE_CLONE,
//     without AT_RECURSIVE, so mounts stacked on /proc's files, such as a
//     container runtime's masks, are left behind). It needs the same
//     privilege, but works where a new procfs instance is refused (a
//     container whose /proc is not fully visible).
//  3. Otherwise: open("/proc"), accepted only if it is procfs
//     (fstatfs f_type == PROC_SUPER_MAGIC) and the root of a procfs
//     mount (inode PROC_ROOT_INO and, where statx reports it, the
//     mount-root attribute), so it is not a subdirectory bind-mounted onto
//     /proc. Lookups inside it then use RESOLVE_NO_XDEV, which refuses any
//     overmount on the way.
//
// The handle is opened once and kept for the life of the process; a failed
// attempt is not cached, so the next caller tries again.

// procRootIno is PROC_ROOT_INO: the inode number of every procfs root.
const procRootIno = 1

var procfs struct {
	mu      sync.Mutex
	fd      int
	private bool   // not reachable by path: nothing can be mounted over it
	kind    string // "private", "clone" or "/proc"; see ProcfsMode
	ok      bool
}

// procRoot returns the process's verified procfs root fd. Callers must not
// close it.
func procRoot() (int, error) {
	procfs.mu.Lock()
	defer procfs.mu.Unlock()
	if procfs.ok {
		return procfs.fd, nil
	}
	fd, kind, err := openProcRoot()
	if err != nil {
		return -1, err
	}
	procfs.fd, procfs.kind, procfs.private, procfs.ok = fd, kind, kind != "/proc", true
	return fd, nil
}

func openProcRoot() (fd int, kind string, err error) {
	for _, src := range []struct {
		kind string
		open func() (int, error)
	}{{"private", newPrivateProcfs}, {"clone", clonePrivateProcfs}} {
		fd, err := src.open()
		if err != nil {
			continue
		}
		if err := verifyProcRoot(fd); err == nil {
			return fd, src.kind, nil
		}
		unix.Close(fd)
	}
	fd, err = unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open /proc: %w", err)
	}
	if err := verifyProcRoot(fd); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("/proc: %w", err)
	}
	return fd, "/proc", nil
}

// newPrivateProcfs mounts a private, detached procfs instance.
func newPrivateProcfs() (int, error) {
	fsfd, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen proc: %w", err)
	}
	defer unix.Close(fsfd)
	// Both options are hardening, not requirements, and the order matters:
	// subset= exists only since Linux 5.8, which is also when each procfs
	// mount got a superblock of its own. Before that the superblock is
	// shared with /proc, and setting hidepid here would change /proc for
	// the whole pid namespace, so hidepid is only set once subset= has
	// proved the kernel is new enough.
	if unix.FsconfigSetString(fsfd, "subset", "pid") == nil {
		_ = unix.FsconfigSetString(fsfd, "hidepid", "ptraceable")
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig create proc: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, fmt.Errorf("fsmount proc: %w", err)
	}
	return mfd, nil
}

// clonePrivateProcfs makes a detached copy of the /proc mount, without the
// mounts stacked on it.
func clonePrivateProcfs() (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree /proc: %w", err)
	}
	return fd, nil
}

// errNotProcRoot is returned by verifyProcRoot.
var errNotProcRoot = errors.New("not the root of a procfs mount")

// verifyProcRoot checks that fd is the root directory of a procfs mount.
func verifyProcRoot(fd int) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return fmt.Errorf("verify procfs: fstatfs: %w", err)
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%w: filesystem type %#x", errNotProcRoot, sfs.Type)
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_TYPE, &stx); err != nil {
		return fmt.Errorf("verify procfs: statx: %w", err)
	}
	if stx.Ino != procRootIno || stx.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%w: inode %d", errNotProcRoot, stx.Ino)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return fmt.Errorf("%w: not a mount root", errNotProcRoot)
	}
	return nil
}
