package bypass

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// execveat is execveat(2), which x/sys/unix lacks. It only returns on
// failure.
func execveat(dirfd int, path string, argv, envv []string, flags int) error {
	pathp, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envvp, err := syscall.SlicePtrFromStrings(envv)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(dirfd), uintptr(unsafe.Pointer(pathp)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envvp[0])), uintptr(flags), 0)
	return errno
}
