package vfsops

import (
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Reopen opens the file that fd refers to again, with flags: the one way to
// turn an O_PATH fd into an open file (or to get a second open file
// description with another access mode). It goes through the hardened
// procfs handle's thread-self/fd/N, never a "/proc/..." string, and checks
// that what it opened is the same inode as fd. Reopen does not check
// rights: callers check OpReopen and OpenRights(flags) first.
//
// O_CREAT and O_TMPFILE make no sense for an existing file and are refused
// (EINVAL); O_CLOEXEC is always added.
func Reopen(fd int, flags int) (int, error) {
	if flags&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		return -1, fdError("reopen", fd, unix.EINVAL)
	}
	flags |= unix.O_CLOEXEC
	var want unix.Stat_t
	if err := unix.Fstat(fd, &want); err != nil {
		return -1, fdError("reopen", fd, err)
	}
	newfd := -1
	err := withProcFd(fd, func(fddir int, name string) error {
		// A plain openat, deliberately: this is the one place a magic link
		// is followed, once, from an entry withProcFd has just checked is
		// the magic link of our own thread's fd table on the private
		// procfs. openat2 would refuse it (RESOLVE_NO_MAGICLINKS) and a
		// scoped openat2 cannot follow magic links at all.
		return ignoringEINTR(func() error {
			var err error
			newfd, err = unix.Openat(fddir, name, flags, 0)
			return err
		})
	})
	if err != nil {
		return -1, fdError("reopen", fd, err)
	}
	// The entry was checked before it was followed; comparing the result
	// with fd closes the remaining gap (a procfs replaced between check and
	// use would have to hand back this very inode to pass).
	var got unix.Stat_t
	if err := unix.Fstat(newfd, &got); err != nil {
		unix.Close(newfd)
		return -1, fdError("reopen", fd, err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		unix.Close(newfd)
		return -1, fdError("reopen", fd, escape("procfs returned a different file", unix.EXDEV))
	}
	return newfd, nil
}

// withProcFd runs fn with the directory fd of this thread's
// thread-self/fd in the private procfs and the entry name of fd in it. The
// OS thread is locked for the duration, because thread-self names the
// thread that resolves it, and fd tables aside, a thread switch would make
// the name mean another thread's directory.
func withProcFd(fd int, fn func(fddir int, name string) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	root, err := procRoot()
	if err != nil {
		return err
	}
	fddir, err := openThreadFdDir(root)
	if err != nil {
		return err
	}
	defer unix.Close(fddir)
	name := fdName(fd)
	if err := checkProcFdLink(fddir, name); err != nil {
		return err
	}
	return fn(fddir, name)
}

// procfsLookupResolve keeps procfs lookups inside the handle
// (RESOLVE_BENEATH), off any mount stacked on it (RESOLVE_NO_XDEV: an
// overmount is how the /proc attacks substitute files) and away from magic
// links (thread-self is an ordinary symlink and still allowed).
const procfsLookupResolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS

// openThreadFdDir opens "thread-self/fd" beneath the procfs root as O_PATH.
func openThreadFdDir(root int) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: procfsLookupResolve}
	fd, err := openat2Retrying(root, "thread-self/fd", &how)
	if err == nil {
		return fd, nil
	}
	if err != unix.ENOSYS && err != unix.EPERM {
		return -1, fmt.Errorf("open procfs thread-self/fd: %w", err)
	}
	return openThreadFdDirWalking(root)
}

// openThreadFdDirWalking is openThreadFdDir without openat2: it reads the
// thread-self symlink (an ordinary symlink to "TGID/task/TID") and opens
// each component with O_NOFOLLOW, refusing any component that is not on
// the handle's own mount.
func openThreadFdDirWalking(root int) (int, error) {
	target, err := readlinkat(root, "thread-self")
	if err != nil {
		return -1, fmt.Errorf("readlink procfs thread-self: %w", err)
	}
	rootMnt, err := mountID(root)
	if err != nil {
		return -1, err
	}
	comps := append(strings.Split(target, "/"), "fd")
	if len(comps) != 4 || comps[1] != "task" {
		return -1, fmt.Errorf("procfs thread-self points to %q: %w", target, errNotProcRoot)
	}
	cur := root
	for _, comp := range comps {
		if comp == "" || comp == "." || comp == ".." {
			return -1, fmt.Errorf("procfs thread-self points to %q: %w", target, errNotProcRoot)
		}
		next, err := unix.Openat(cur, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if cur != root {
			unix.Close(cur)
		}
		if err != nil {
			return -1, fmt.Errorf("open procfs %s: %w", comp, err)
		}
		cur = next
		if mnt, err := mountID(cur); err != nil || mnt != rootMnt {
			unix.Close(cur)
			return -1, fmt.Errorf("procfs %s: %w", comp, escape("mount over procfs", unix.EXDEV))
		}
	}
	return cur, nil
}

// checkProcFdLink checks that name in fddir is a symlink on procfs on the
// same mount as fddir: the magic link itself, not something mounted over it.
func checkProcFdLink(fddir int, name string) error {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: procfsLookupResolve}
	link, err := openat2Retrying(fddir, name, &how)
	if err == unix.ENOSYS || err == unix.EPERM {
		link, err = unix.Openat(fddir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return fmt.Errorf("open procfs fd entry %s: %w", name, err)
	}
	defer unix.Close(link)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(link, &sfs); err != nil {
		return err
	}
	var stx unix.Statx_t
	if err := unix.Statx(link, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &stx); err != nil {
		return err
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC || stx.Mode&unix.S_IFMT != unix.S_IFLNK {
		return fmt.Errorf("procfs fd entry %s: %w", name, escape("not a procfs magic link", unix.EXDEV))
	}
	dirMnt, err := mountID(fddir)
	if err != nil {
		return err
	}
	if linkMnt, err := mountID(link); err != nil || linkMnt != dirMnt {
		return fmt.Errorf("procfs fd entry %s: %w", name, escape("mount over procfs", unix.EXDEV))
	}
	return nil
}

// openat2Retrying is a raw openat2 with the EAGAIN retry and no mapping.
func openat2Retrying(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for attempt := 0; ; attempt++ {
		fd, err := openat2Syscall(dirfd, path, how)
		if err == unix.EINTR || (err == unix.EAGAIN && attempt+1 < maxEAGAINRetries) {
			continue
		}
		return fd, err
	}
}

// mountID identifies the mount fd is on: statx STATX_MNT_ID (Linux 5.8),
// else the device number, which differs between procfs instances too.
func mountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, fmt.Errorf("statx mount id: %w", err)
	}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		return stx.Mnt_id, nil
	}
	return uint64(stx.Dev_major)<<32 | uint64(stx.Dev_minor), nil
}
