package notify

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

// Filter is the seccomp filter that puts a program under a Supervisor, an
// allow-list (classify.go):
//
//   - in kernel mode, first, the path syscalls the kernel answers as the
//     rights model does in the program's view run (kernelRules);
//   - the mount family, the syscalls in Refused and deniedSyscalls fail
//     with EPERM;
//   - capability mode's rules (capmode.Rules) decide sockets by domain
//     and type, and refuse terminal injection and new namespaces;
//   - syscalls that need a right no grant carries (union) fail with EPERM
//     in the kernel, without a round trip (seccomp.RulesFor), unless the
//     supervisor answers them (unserved);
//   - the fd operations whose answer depends on the object are notified or
//     refused by argument value (fdRules: attribute ioctls and, with an
//     append-only grant, what would defeat O_APPEND);
//   - the path syscalls in Syscalls, and the descriptor forms decided per
//     object (fchmod, fchown, ftruncate, fsetxattr, fremovexattr), are
//     notified to the supervisor;
//   - nativeSyscalls run: they act on descriptors the program already
//     holds, or on no file at all;
//   - everything else fails with ENOSYS, as on a kernel without it.
//
// execve/execveat are left to the kernel: their authorization is Landlock's
// exec right, checked in the kernel against the file actually executed, so
// there is no string to race.
//
// Filter assumes some grant is append-only (the safe side: it costs F_SETFL
// calls a round trip); FilterFor takes the grants' real shape.
func Filter(union rights.Rights) seccomp.Filter {
	return FilterFor(FilterShape{Union: union, AppendOnly: true})
}

// FilterFor is Filter for grants of the given shape (Supervisor.Shape).
func FilterFor(sh FilterShape) seccomp.Filter {
	union := sh.Union
	known := func(names []string) []string {
		var out []string
		for _, name := range names {
			if seccomp.Known(name) {
				out = append(out, name)
			}
		}
		return out
	}
	// Kernel mode's rules come first: the program runs linearly, and
	// these are the hottest calls (an open passes some hundred
	// comparisons of the rules below). No rule below names their
	// syscalls but the Notify rule they stand before
	// (TestKernelRulesComeFirst), so the order changes no answer.
	rules := kernelRules(sh.Kernel)
	rules = append(rules,
		seccomp.DenyMountFamily(),
		seccomp.Rule{Syscalls: known(append(Refused(), groupNames(deniedSyscalls)...)), Action: seccomp.Errno(unix.EPERM)},
	)
	rules = append(rules, capmode.Rules(sh.Ambient)...)
	rules = append(rules, unserved(seccomp.RulesFor(union))...)
	rules = append(rules, fdRules(sh)...)
	rules = append(rules,
		seccomp.Rule{Syscalls: known(Syscalls()), Action: seccomp.Notify},
		seccomp.Rule{Syscalls: known(groupNames(nativeSyscalls)), Action: seccomp.Allow},
	)
	return seccomp.Filter{Default: seccomp.Errno(unix.ENOSYS), Rules: rules}
}

// SendFd passes fd over the Unix socket sock (SCM_RIGHTS): how the
// confined child hands its listener to the supervisor.
func SendFd(sock, fd int) error {
	if err := unix.Sendmsg(sock, []byte{'L'}, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("notify: send listener: %w", err)
	}
	return nil
}

// RecvFd receives one descriptor sent with SendFd. The descriptor is
// close-on-exec in the receiver.
func RecvFd(sock int) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("notify: receive listener: %w", err)
	}
	if n == 0 && oobn == 0 {
		return -1, fmt.Errorf("notify: receive listener: the child closed the socket before sending it")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("notify: receive listener: no descriptor in message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("notify: receive listener: expected one descriptor")
	}
	return fds[0], nil
}

// unserved drops from rules the syscalls the supervisor answers. Those it
// refuses per object as surely as the filter would, when no grant carries
// their right, and it says so ("capfd: not capable: chown ..."), where the
// filter's EPERM is silent: cp -a's fchown under a grant without chown
// failed with no line saying why. The filter keeps refusing the rest
// (flock without the lock right).
func unserved(rules []seccomp.Rule) []seccomp.Rule {
	answered := map[string]bool{}
	for _, name := range Syscalls() {
		answered[name] = true
	}
	var out []seccomp.Rule
	for _, r := range rules {
		var keep []string
		for _, name := range r.Syscalls {
			if !answered[name] {
				keep = append(keep, name)
			}
		}
		if len(keep) > 0 {
			r.Syscalls = keep
			out = append(out, r)
		}
	}
	return out
}
