package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/seccomp"
)

// confine restricts this process, for good, to what the logger needs:
// the kernel, not the library, then refuses the rest even to code that
// bypasses capfd and makes raw system calls (a compromised logger).
//
//   - Landlock (broker/landlock): the log directory with the logger's own
//     rights, and no other path. A re-open of the log through
//     /proc/self/fd/N is judged on the log file itself, so it gets no
//     read and no truncate: O_RDWR and O_TRUNC re-opens fail, as does
//     truncate(2) through the magic link.
//   - seccomp (broker/seccomp): the syscalls no right the logger holds
//     needs (truncate, ftruncate, unlink, rename, chmod, ...), and
//     fallocate, whose hole punching would zero history through the
//     logger's own descriptor.
//
// Not covered here: append-only itself. Landlock has one "write file"
// access for write and append alike, so opening the log (by path or
// through /proc/self/fd/N) O_WRONLY without O_APPEND, or fcntl(F_SETFL)
// clearing O_APPEND on the logger's own descriptor, still lets it write
// over history. Those need the BPF LSM layer (broker/lsm) or a broker
// that does the appending: run under capfd run with -broker.
func confine(dir string) (string, error) {
	report, err := landlock.Restrict([]landlock.Grant{{Path: dir, Rights: logDirRights}})
	if err != nil {
		return "", fmt.Errorf("confining with landlock: %w", err)
	}
	filter := seccomp.Filter{
		Default: seccomp.Allow,
		Rules: append(seccomp.RulesFor(logDirRights.Base|logDirRights.Inherit),
			seccomp.DenyMountFamily(),
			seccomp.Rule{Syscalls: []string{"fallocate"}, Action: seccomp.Errno(unix.EPERM)}),
	}
	if _, err := filter.Install(); err != nil {
		return "", fmt.Errorf("confining with seccomp: %w", err)
	}
	return report.String() + "; seccomp: truncate, unlink, rename, fallocate, mount... refused", nil
}
