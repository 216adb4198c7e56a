package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Action is what the kernel does with a syscall a filter matched: one of the
// SECCOMP_RET_* values, with its data bits.
type Action uint32

const (
	// Allow runs the syscall.
	Allow Action = unix.SECCOMP_RET_ALLOW
	// Notify suspends the syscall and forwards it to the process holding the
	// listener fd that Install returned.
	Notify Action = unix.SECCOMP_RET_USER_NOTIF
	// KillProcess kills every thread of the process with SIGSYS. It is what a
	// foreign-architecture syscall gets.
	KillProcess Action = unix.SECCOMP_RET_KILL_PROCESS
	// Log allows the syscall and records it in the audit log.
	Log Action = unix.SECCOMP_RET_LOG
)

// Errno makes the syscall fail with err and do nothing else.
func Errno(err unix.Errno) Action {
	return Action(unix.SECCOMP_RET_ERRNO | uint32(err)&unix.SECCOMP_RET_DATA)
}

// validate rejects values that are not one of the actions above: a typo in a
// hand-written Action must not turn into an unintended kernel action (0 is
// SECCOMP_RET_KILL_THREAD, which leaves a Go program half dead).
func (a Action) validate() error {
	switch a {
	case Allow, Notify, KillProcess, Log:
		return nil
	}
	if a&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
		if a&unix.SECCOMP_RET_DATA == 0 {
			// errno 0 would make the syscall "succeed" without running.
			return fmt.Errorf("seccomp action %#x: errno 0 is not an error", uint32(a))
		}
		return nil
	}
	return fmt.Errorf("seccomp action %#x: not one of allow, errno, notify, kill-process, log", uint32(a))
}

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Notify:
		return "notify"
	case KillProcess:
		return "kill-process"
	case Log:
		return "log"
	}
	if a&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
		errno := unix.Errno(a & unix.SECCOMP_RET_DATA)
		if name := unix.ErrnoName(errno); name != "" {
			return "errno(" + name + ")"
		}
		return fmt.Sprintf("errno(%d)", uint32(errno))
	}
	return fmt.Sprintf("action(%#x)", uint32(a))
}
