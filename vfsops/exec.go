package vfsops

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exec replaces the process image with the program open on fd (an O_PATH fd
// works): execveat(fd, "", argv, envv, AT_EMPTY_PATH). The program is the
// inode fd refers to; no path is resolved, so nothing can swap it between
// the rights check and the exec. It returns only on failure.
//
// A program run this way sees /dev/fd/N in its AT_EXECFN and, if fd is
// close-on-exec, a script interpreter cannot reopen the script (ENOENT):
// pass a script fd without O_CLOEXEC.
func Exec(fd int, argv, envv []string) error {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return fdError("execveat", fd, err)
	}
	envvp, err := syscall.SlicePtrFromStrings(envv)
	if err != nil {
		return fdError("execveat", fd, err)
	}
	empty, err := unix.BytePtrFromString("")
	if err != nil {
		return fdError("execveat", fd, err)
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envvp[0])), unix.AT_EMPTY_PATH, 0)
	return fdError("execveat", fd, errno)
}
