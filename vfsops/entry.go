package vfsops

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Entry operations share one shape: openFinal proves the parent directory
// is beneath dirfd and hands back the final component; the *at system call
// then acts on exactly that directory entry. The name is one component,
// perhaps with a trailing slash ("x/"), or "." or "..": the kernel
// performs no further path walk for it, and for mkdir, unlink, rmdir,
// rename, symlink and the new name of link it follows no symlink there
// either, so no symlink or ".." the caller did not see can redirect the
// operation, while the kernel's own rules for a trailing slash (ENOTDIR,
// EISDIR, ENOENT, EEXIST) and for a final dot (EEXIST, EBUSY, EINVAL,
// ENOTEMPTY) apply unchanged. Where an operation would follow a symlink in
// that final name (readlink and link's old name when the path ends in a
// slash, stat, chmod), it either passes AT_SYMLINK_NOFOLLOW or resolves the
// target with OpenBeneath first and acts on the resulting fd.

// atParent runs fn on the parent of path and the final name (see above),
// closing the parent afterwards. It is the one place where a path is split
// into the directory to resolve and the entry to act on.
func atParent(dirfd int, path string, how Resolve, fn func(parent int, name string) error) error {
	parent, name, err := openFinal(dirfd, path, how)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	return ignoringEINTR(func() error { return fn(parent, name) })
}

// Mkdir creates directory path beneath dirfd.
func Mkdir(dirfd int, path string, mode uint32, how Resolve) error {
	return pathError("mkdir", path, atParent(dirfd, path, how, func(parent int, name string) error {
		return unix.Mkdirat(parent, name, mode)
	}))
}

// Unlink removes a file, symlink or other non-directory beneath dirfd. A
// symlink is removed itself, never its target.
//
// "name/" fails as unlink(2) fails: EISDIR for a directory, ENOTDIR for
// anything else (a symlink included, whatever it points to), ENOENT if
// there is nothing.
func Unlink(dirfd int, path string, how Resolve) error {
	return pathError("unlink", path, atParent(dirfd, path, how, func(parent int, name string) error {
		return unix.Unlinkat(parent, name, 0)
	}))
}

// Rmdir removes an empty directory beneath dirfd.
func Rmdir(dirfd int, path string, how Resolve) error {
	return pathError("rmdir", path, atParent(dirfd, path, how, func(parent int, name string) error {
		return unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
	}))
}

// Rename renames oldpath beneath olddirfd to newpath beneath newdirfd,
// replacing newpath if it exists (as rename(2) does). As in rename(2), a
// trailing slash on either path requires the source to be a directory (a
// symlink to one is not: "link/" is ENOTDIR), and a final "." or ".." is
// EBUSY.
func Rename(olddirfd int, oldpath string, newdirfd int, newpath string, how Resolve) error {
	return RenameFlags(olddirfd, oldpath, newdirfd, newpath, 0, how)
}

// RenameFlags is Rename with renameat2 flags (unix.RENAME_NOREPLACE,
// unix.RENAME_EXCHANGE, unix.RENAME_WHITEOUT).
func RenameFlags(olddirfd int, oldpath string, newdirfd int, newpath string, flags uint, how Resolve) error {
	err := atParents(olddirfd, oldpath, newdirfd, newpath, how, func(oldParent int, oldName string, newParent int, newName string) error {
		if flags == 0 {
			return unix.Renameat(oldParent, oldName, newParent, newName)
		}
		return unix.Renameat2(oldParent, oldName, newParent, newName, flags)
	})
	return linkError("rename", oldpath, newpath, err)
}

// Link creates newpath beneath newdirfd as a hard link to oldpath beneath
// olddirfd. A symlink at oldpath is linked itself (linkat without
// AT_SYMLINK_FOLLOW), so its target is never resolved here, except as
// linkat(2) resolves it: "link/" (like any oldpath ending in a slash, or
// in "." or "..") is looked up through the symlink, beneath olddirfd, and
// as it must then be a directory, which is never hard-linked, fails.
func Link(olddirfd int, oldpath string, newdirfd int, newpath string, how Resolve) error {
	if resolvesFinal(oldpath) {
		return linkError("link", oldpath, newpath, linkDirectory(olddirfd, oldpath, newdirfd, newpath, how))
	}
	err := atParents(olddirfd, oldpath, newdirfd, newpath, how, func(oldParent int, oldName string, newParent int, newName string) error {
		return unix.Linkat(oldParent, oldName, newParent, newName, 0)
	})
	return linkError("link", oldpath, newpath, err)
}

// linkDirectory is Link of an oldpath that names a directory if anything
// (see Link). It gives linkat(2)'s errors in linkat's order: the old
// path's lookup (ENOENT, ENOTDIR, ...), then the new name's (EEXIST if it
// exists, ENOENT if it ends in a slash and does not), then EPERM for the
// directory. Nothing is created.
func linkDirectory(olddirfd int, oldpath string, newdirfd int, newpath string, how Resolve) error {
	fd, err := openBeneath(olddirfd, oldpath, unix.O_PATH|unix.O_DIRECTORY, 0, how)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return atParent(newdirfd, newpath, how, func(parent int, name string) error {
		entry := strings.TrimSuffix(name, "/")
		if entry == "." || entry == ".." {
			return unix.EEXIST
		}
		var st unix.Stat_t
		switch err := unix.Fstatat(parent, entry, &st, unix.AT_SYMLINK_NOFOLLOW); {
		case err == nil:
			return unix.EEXIST
		case err != unix.ENOENT:
			return err
		case entry != name:
			return unix.ENOENT // "new/" is never created by link
		}
		return unix.EPERM
	})
}

// atParents is atParent for the two paths of a rename or link: it opens
// both parents beneath their directories, then runs fn on each parent and
// its final name, as the kernel gets them.
func atParents(olddirfd int, oldpath string, newdirfd int, newpath string, how Resolve,
	fn func(oldParent int, oldName string, newParent int, newName string) error) error {
	oldParent, oldName, err := openFinal(olddirfd, oldpath, how)
	if err != nil {
		return err
	}
	defer unix.Close(oldParent)
	newParent, newName, err := openFinal(newdirfd, newpath, how)
	if err != nil {
		return err
	}
	defer unix.Close(newParent)
	return ignoringEINTR(func() error { return fn(oldParent, oldName, newParent, newName) })
}

// Symlink creates path beneath dirfd as a symlink to target. The target is
// stored verbatim (an absolute or escaping target is allowed, as a string):
// it is only ever followed by resolutions beneath a directory, which refuse
// or contain it.
func Symlink(target string, dirfd int, path string, how Resolve) error {
	if target == "" {
		return pathError("symlink", path, badName("empty symlink target", unix.ENOENT))
	}
	if strings.IndexByte(target, 0) >= 0 {
		return pathError("symlink", path, badName("NUL byte in symlink target", unix.EINVAL))
	}
	return pathError("symlink", path, atParent(dirfd, path, how, func(parent int, name string) error {
		return unix.Symlinkat(target, parent, name)
	}))
}

// Readlink returns the target of the symlink path beneath dirfd. As for
// readlink(2), "link/" names what the link points to (followed beneath
// dirfd), which is then a directory and not a symlink: EINVAL, or ENOTDIR
// if it is not a directory either.
func Readlink(dirfd int, path string, how Resolve) (string, error) {
	if resolvesFinal(path) {
		fd, err := openBeneath(dirfd, path, unix.O_PATH|unix.O_DIRECTORY, 0, how)
		if err == nil {
			unix.Close(fd)
			err = unix.EINVAL
		}
		return "", pathError("readlink", path, err)
	}
	var target string
	err := atParent(dirfd, path, how, func(parent int, name string) error {
		var err error
		target, err = readlinkat(parent, name)
		return err
	})
	return target, pathError("readlink", path, err)
}

// readlinkat reads a symlink whatever its length.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size >= 1<<20 {
			return "", unix.ENAMETOOLONG
		}
	}
}

// openObject opens path beneath dirfd as O_PATH, following a symlink in the
// last component if follow is set, so that an operation can act on the fd
// of the object itself rather than on a name the kernel would re-resolve.
func openObject(dirfd int, path string, how Resolve, follow bool) (int, error) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	return openBeneath(dirfd, path, flags, 0, how)
}

// Stat returns the status of path beneath dirfd; follow=false is lstat.
//
// A plain name (one component, not "." or "..") is stat'ed where it is,
// with one fstatat(AT_SYMLINK_NOFOLLOW): the kernel then walks nothing, so
// nothing can lead it out of dirfd, and the answer is the one openat2
// would reach. Only a symlink to follow, or a name with RESOLVE_NO_XDEV
// (the entry may be a mount point, which that refuses to cross), takes
// the resolved path of openat2 + fstat + close; the brokered stat of a
// file in a granted directory thus costs one system call instead of three.
func Stat(dirfd int, path string, how Resolve, follow bool) (unix.Stat_t, error) {
	var st unix.Stat_t
	if how&(NoXDev|forceWalk) == 0 && plainName(path) {
		err := ignoringEINTR(func() error { return unix.Fstatat(dirfd, path, &st, unix.AT_SYMLINK_NOFOLLOW) })
		if err != nil || !follow || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return st, pathError("stat", path, err)
		}
		st = unix.Stat_t{} // a symlink to follow: resolve it beneath dirfd
	}
	fd, err := openObject(dirfd, path, how, follow)
	if err != nil {
		return st, pathError("stat", path, err)
	}
	defer unix.Close(fd)
	return st, pathError("stat", path, unix.Fstat(fd, &st))
}

// plainName reports whether path is one entry name that resolves to
// nothing but itself: not empty, no "/", not "." or "..", no NUL.
func plainName(path string) bool {
	return path != "" && path != "." && path != ".." && !strings.ContainsAny(path, "/\x00")
}

// Chmod changes the mode of path beneath dirfd. Linux has no modes on
// symlinks, so a symlink in the last component is followed, beneath dirfd:
// the target is resolved with OpenBeneath and changed through its fd.
func Chmod(dirfd int, path string, mode uint32, how Resolve) error {
	fd, err := openObject(dirfd, path, how, true)
	if err != nil {
		return pathError("chmod", path, err)
	}
	defer unix.Close(fd)
	return pathError("chmod", path, fchmod(fd, mode))
}

// Chown changes the owner of path beneath dirfd; follow=false changes a
// symlink itself (lchown). uid or gid -1 leaves that id alone.
func Chown(dirfd int, path string, uid, gid int, how Resolve, follow bool) error {
	fd, err := openObject(dirfd, path, how, follow)
	if err != nil {
		return pathError("chown", path, err)
	}
	defer unix.Close(fd)
	return pathError("chown", path, fchown(fd, uid, gid))
}

// Chtimes sets the access and modification times of path beneath dirfd;
// follow=false changes a symlink itself. A time with Nsec unix.UTIME_OMIT
// is left alone, unix.UTIME_NOW sets the current time.
func Chtimes(dirfd int, path string, atime, mtime unix.Timespec, how Resolve, follow bool) error {
	fd, err := openObject(dirfd, path, how, follow)
	if err != nil {
		return pathError("chtimes", path, err)
	}
	defer unix.Close(fd)
	return pathError("chtimes", path, futimes(fd, atime, mtime))
}

// ignoringEINTR retries fn while it is interrupted by a signal, as the os
// package does: Go installs signal handlers with SA_RESTART, but some
// system calls are not restarted anyway.
func ignoringEINTR(fn func() error) error {
	for {
		err := fn()
		if err != unix.EINTR {
			return err
		}
	}
}
