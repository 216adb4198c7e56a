package landlock

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// RestrictThread confines the calling OS thread, and everything it later
// forks or execs, to grants: the same ruleset as Restrict, applied with
// landlock_restrict_self(2) on this thread alone. It also sets
// no_new_privs, on this thread alone. The caller must be locked to its OS
// thread (runtime.LockOSThread) and fork or exec from it.
//
// Restrict reaches every thread of a Go process through psx, which walks
// /proc/self/task and signals each tid. Inside a new PID namespace whose
// /proc is still the parent's (capfd run's stage 2 as the namespace's
// init), those tids name nothing and psx spins forever. The confined
// program only inherits the thread that starts it, so that thread is all
// that needs the ruleset.
//
// ambient adds what Landlock confines beyond files (Ambient); what of it
// the running ABI enforces is in the report's Ambient.
func RestrictThread(grants []Grant, ambient Ambient) (Report, error) {
	report, rules, err := plan(grants)
	if err != nil {
		return report, err
	}
	if report.Ambient, err = ambientAt(report.ABI, ambient); err != nil {
		return report, err
	}

	attr, attrSize := rulesetAttr(report.Handled, report.Ambient)
	rfd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), attrSize, 0)
	if errno != 0 {
		return report, fmt.Errorf("landlock: create ruleset %v, %v: %w", report.Handled, report.Ambient, errno)
	}
	ruleset := int(rfd)
	defer unix.Close(ruleset)
	if report.Ambient.TCP {
		if err := addPortRules(ruleset, ambient); err != nil {
			return report, err
		}
	}
	for _, r := range rules {
		if r.access == 0 {
			continue
		}
		if err := addPathRule(ruleset, r); err != nil {
			return report, err
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return report, fmt.Errorf("landlock: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); errno != 0 {
		return report, fmt.Errorf("landlock: restrict: %w", errno)
	}
	return report, nil
}

// addPathRule allows r.access beneath r.path.
func addPathRule(ruleset int, r rule) error {
	fd := r.fd
	if !r.fromFd {
		var err error
		if fd, err = vfsops.OpenObjectAmbient(r.path); err != nil {
			return fmt.Errorf("landlock: grant %s: %w", r.path, err)
		}
		defer unix.Close(fd)
	}
	beneath := unix.LandlockPathBeneathAttr{Allowed_access: uint64(r.access), Parent_fd: int32(fd)}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&beneath)), 0, 0, 0)
	if errno != 0 {
		if errors.Is(errno, unix.EINVAL) {
			return fmt.Errorf("landlock: grant %s: access %v not allowed on this kind of file: %w", r.path, r.access, errno)
		}
		return fmt.Errorf("landlock: grant %s: %w", r.path, errno)
	}
	return nil
}
