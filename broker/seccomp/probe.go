package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Probe reports whether this kernel and process can install capfd's filters
// and a notification listener: nil, or why not. It changes nothing.
func Probe() error {
	if nativeErr != nil {
		return fmt.Errorf("seccomp: %w", nativeErr)
	}
	for _, a := range []Action{KillProcess, Errno(unix.EPERM), Notify, Log, Allow} {
		if err := actionAvailable(a); err != nil {
			return err
		}
	}
	// An unknown flag or combination is EINVAL before the kernel reads the
	// program; with a NULL program, accepted flags end in EFAULT. So this
	// checks TSYNC_ESRCH (5.7) without installing anything.
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, 0)
	switch errno {
	case unix.EFAULT:
		return nil
	case unix.EINVAL:
		return fmt.Errorf("seccomp: filter flags TSYNC|TSYNC_ESRCH|NEW_LISTENER not supported (Linux 5.7 or later needed)")
	default:
		return fmt.Errorf("seccomp: probing filter flags: unexpected %w", errno)
	}
}

func actionAvailable(a Action) error {
	action := uint32(a) & unix.SECCOMP_RET_ACTION_FULL
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	switch {
	case errno == 0:
		return nil
	case errors.Is(errno, unix.EOPNOTSUPP):
		return fmt.Errorf("seccomp: action %s not supported by this kernel", a)
	case errors.Is(errno, unix.ENOSYS), errors.Is(errno, unix.EINVAL):
		return fmt.Errorf("seccomp: SECCOMP_GET_ACTION_AVAIL unavailable (kernel without CONFIG_SECCOMP_FILTER, or older than 4.14): %w", errno)
	default:
		return fmt.Errorf("seccomp: SECCOMP_GET_ACTION_AVAIL(%s): %w", a, errno)
	}
}
