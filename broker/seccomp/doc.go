// Package seccomp builds and installs the seccomp filters of capfd's kernel
// layer.
//
// Landlock (package broker/landlock) restricts what may be done to paths; it
// cannot see mount, chmod, chown, utimes or xattr changes. Those syscalls are
// refused here, by number, for a whole confined process: RulesFor turns the
// rights a process was granted anywhere into the syscalls no grant allows.
// The launcher adds Notify rules for the path syscalls it answers itself
// through seccomp user notification.
//
// Filters are assembled with github.com/elastic/go-seccomp-bpf, which brings
// per-architecture syscall tables and a label-resolving cBPF assembler. Its
// loader cannot ask the kernel for a notification listener, and it lets a
// foreign-architecture syscall fall through to the default action, so the
// program prologue and Install are this package's own.
package seccomp
