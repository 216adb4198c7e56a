package bypass

import (
	"fmt"

	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/seccomp"
	"golang.org/x/sys/unix"
)

func init() { Register(LandlockSeccomp{}) }

// LandlockSeccomp is the kernel layer for hosts without BPF LSM: the child
// restricts itself with Landlock to its grants, then installs the seccomp
// filter refusing the syscalls of rights no grant carries. Nothing happens
// on the parent side.
type LandlockSeccomp struct{}

func (LandlockSeccomp) Name() string { return "landlock+seccomp" }

func (LandlockSeccomp) Available() error {
	if _, err := landlock.Probe(); err != nil {
		return &MissingFeatureError{Feature: "Landlock", Err: err}
	}
	if err := seccomp.Probe(); err != nil {
		return &MissingFeatureError{Feature: "seccomp filters with user notification", Err: err}
	}
	return nil
}

func (LandlockSeccomp) ConfineChild(int, Grants) (func(), error) { return func() {}, nil }

func (LandlockSeccomp) ConfineSelf(g Grants) error {
	if err := landlockOnlyConfine(g); err != nil {
		return err
	}
	// Landlock first: its syscalls are not in the filter, but nothing
	// should depend on that.
	fd, err := seccompFilterFor(g).Install()
	if err != nil {
		return err
	}
	if fd >= 0 {
		unix.Close(fd)
		return fmt.Errorf("seccomp: unexpected listener fd %d for a filter without notify rules", fd)
	}
	return nil
}

// Gaps of Landlock + seccomp on this kernel. Each reason names the missing
// mechanism; docs/kernel-enforcement.md carries the table for ABI 7.
func (LandlockSeccomp) Gaps() map[string]string {
	gaps := map[string]string{
		"append-only-overwrite":         "Landlock has one WRITE_FILE right: append-only cannot be told from write (and O_APPEND can be cleared with fcntl(F_SETFL) anyway)",
		"stat-ungranted-sibling":        "Landlock does not mediate stat/statx/access/readlink, and seccomp cannot tell paths apart: metadata of ungranted files stays visible",
		"exec-via-dynamic-loader":       "Landlock's EXECUTE is checked at execve only, not at mmap(PROT_EXEC): ld.so maps a file granted read-only as code",
		"nested-grant-via-symlink":      "Landlock rules add up down the tree: a read-only rule beneath a read-write one cannot narrow it, whatever name reaches the file",
		"nested-grant-after-rename":     "Landlock rules add up down the tree (and move with their directory): the nested read-only rule cannot narrow the read-write one around it under any name",
		"base-below-inherit-via-dotdot": "a Landlock rule on a directory covers the directory and everything beneath alike: base and inherit rights cannot differ by depth",
		"append-only-fcntl-clear":       "Landlock has one WRITE_FILE right, and fcntl(F_SETFL) is no file access it mediates: O_APPEND is cleared and the file overwritten",
		"chattr-readonly":               "Landlock's IOCTL_DEV covers devices only, and seccomp cannot tell one file's FS_IOC_SETFLAGS from another's (capfd run's filter notifies it and decides per object)",
		"file-setattr-sibling":          "Landlock has no hook for file_setattr(2), and this filter's default is Allow (capfd run's allow-list answers ENOSYS)",
		"memfd-exec-readonly":           "Landlock's EXECUTE cannot name a memfd (it lives on an internal mount no rule reaches); capfd run closes this with the PID namespace's vm.memfd_noexec = 2",
		"rename-over-without-unlink":    "Landlock models a rename as remove + make, so rename-from is REMOVE_FILE on the directory: where both rename rights are held an existing entry can be replaced without unlink; seccomp cannot refuse rename(2) once a grant carries the rename rights",
	}
	if abi, err := landlock.Probe(); err == nil && abi < 3 {
		gaps["proc-fd-truncate"] = fmt.Sprintf("Landlock ABI %d has no TRUNCATE (ABI 3, Linux 6.2), and seccomp must allow truncate since a grant carries it", abi)
	}
	return gaps
}

// landlockOnlyConfine is the Landlock half of ConfineSelf.
func landlockOnlyConfine(g Grants) error {
	lg := make([]landlock.Grant, len(g))
	for i, x := range g {
		lg[i] = landlock.Grant{Path: x.Path, Rights: x.Rights}
	}
	_, err := landlock.Restrict(lg)
	return err
}

// seccompFilterFor is the filter the landlock+seccomp backend installs.
func seccompFilterFor(g Grants) seccomp.Filter {
	return seccomp.Filter{Default: seccomp.Allow, Rules: seccomp.RulesFor(g.Union())}
}
