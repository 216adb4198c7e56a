package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install sets no_new_privs and installs f on every thread of the calling
// process. When f has a Notify rule it returns the notification listener fd,
// which the caller must hand to its supervisor and close (close-on-exec is
// set); otherwise it returns -1.
//
// Installing is irreversible for this process and everything it execs or
// forks, so callers do it in a child: capfd's launcher in its stage-2 child
// just before exec, tests in a re-exec'd test binary.
func (f Filter) Install() (listenerFd int, err error) {
	prog, err := f.Assemble()
	if err != nil {
		return -1, err
	}
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC)
	if f.notifies() {
		// TSYNC reports a thread it could not synchronise by returning its
		// tid, NEW_LISTENER returns the fd in the same register: the kernel
		// refuses the pair unless TSYNC_ESRCH turns that case into ESRCH.
		//
		// WAIT_KILLABLE_RECV keeps a notified syscall from being restarted
		// by a non-fatal signal once the supervisor has received it. Go
		// programs get a SIGURG for preemption every 10ms; without the flag
		// the supervisor would see the same open(O_CREAT) twice.
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH |
			unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}

	// no_new_privs and the filter must be set on the same thread: seccomp
	// checks the caller's bit, and TSYNC then copies both to the others.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("seccomp: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	ret, err := setModeFilter(flags, &fprog)
	if errors.Is(err, unix.EINVAL) && flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
		// Before Linux 5.19 the flag is unknown; the filter still works,
		// with the restart caveat above.
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		ret, err = setModeFilter(flags, &fprog)
	}
	if err != nil {
		return -1, fmt.Errorf("seccomp: seccomp(SECCOMP_SET_MODE_FILTER, %#x): %w", flags, err)
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
		if ret != 0 {
			// Plain TSYNC: a positive return is the tid of a thread that
			// could not take the filter, and nothing was installed.
			return -1, fmt.Errorf("seccomp: thread %d cannot be synchronised", ret)
		}
		return -1, nil
	}
	return int(ret), nil
}

func setModeFilter(flags uintptr, fprog *unix.SockFprog) (uintptr, error) {
	ret, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(fprog)))
	if errno != 0 {
		return 0, errno
	}
	return ret, nil
}

func (f Filter) notifies() bool {
	if f.Default == Notify {
		return true
	}
	for _, r := range f.Rules {
		if r.Action == Notify && len(r.Syscalls) > 0 {
			return true
		}
	}
	return false
}
