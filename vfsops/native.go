package vfsops

import "golang.org/x/sys/unix"

// Descriptor operations with exactly the kernel's semantics for the fd
// given, for a supervisor that performs a confined task's system call on
// (a duplicate of) the task's own descriptor. Unlike Fchown, Setxattr and
// Removexattr they take no route around the kernel's refusals: an O_PATH
// fd fails with EBADF here as it would have failed for the task, where
// the other forms would reach the file through fchownat(AT_EMPTY_PATH) or
// a reopen and so do what the task's own call could not.

// NativeFchown is fchown(2) on fd.
func NativeFchown(fd int, uid, gid int) error {
	return fdError("fchown", fd, ignoringEINTR(func() error { return unix.Fchown(fd, uid, gid) }))
}

// NativeFsetxattr is fsetxattr(2) on fd.
func NativeFsetxattr(fd int, name string, val []byte, flags int) error {
	return fdError("setxattr "+name, fd, ignoringEINTR(func() error { return unix.Fsetxattr(fd, name, val, flags) }))
}

// NativeFremovexattr is fremovexattr(2) on fd.
func NativeFremovexattr(fd int, name string) error {
	return fdError("removexattr "+name, fd, ignoringEINTR(func() error { return unix.Fremovexattr(fd, name) }))
}
