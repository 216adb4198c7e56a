package vfsops

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Operations on one name in a directory the caller already holds open
// (from OpenParent, or a directory whose identity it has checked). The
// name is a single component: the kernel walks nothing, so there is no
// path to resolve beneath anything, and nothing but that entry is
// touched. Neither follows a symlink in the name.

// StatEntry returns the status of the entry name in dirfd itself (a symlink
// is not followed: fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)).
func StatEntry(dirfd int, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := checkEntryName(name); err != nil {
		return st, pathError("stat", name, err)
	}
	return st, pathError("stat", name, ignoringEINTR(func() error {
		return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

// ReadlinkEntry returns the target of the symlink name in dirfd.
func ReadlinkEntry(dirfd int, name string) (string, error) {
	if err := checkEntryName(name); err != nil {
		return "", pathError("readlink", name, err)
	}
	target, err := readlinkat(dirfd, name)
	return target, pathError("readlink", name, err)
}

// checkEntryName accepts one component: not empty, no NUL, no "/".
// "." and ".." are entries too (stat of them is what the kernel answers).
func checkEntryName(name string) error {
	if err := checkPath(name); err != nil {
		return err
	}
	if strings.IndexByte(name, '/') >= 0 {
		return badName("not a single name: "+name, unix.EINVAL)
	}
	return nil
}
