// Package capmode is capability mode beyond files for `capfd run`: what a
// confined program may reach besides the granted paths (the network,
// Unix sockets, other processes, System V IPC, keyrings, namespaces, the
// terminal, the environment), refused by default and given back only by
// an explicit Policy.
//
// After FreeBSD's cap_enter(2) a process reaches nothing through global
// namespaces. Linux has no such switch, so capability mode is assembled
// from the layers that can each hold part of it, and this package is where
// the parts are decided: Rules are the seccomp rules (decided on integers
// the kernel reads from registers, never on memory the program could
// rewrite after the check); Policy.Landlock is what Landlock holds (TCP
// ports, the abstract-socket and signal scopes); Environ is the
// environment; the supervisor (broker/notify) decides the Unix socket
// addresses it alone can see. Authorities is the table of all of it, side
// by side with Capsicum's (docs/capability-mode.md), and Enforcement says
// which rows a given kernel holds, for `capfd check`.
package capmode
