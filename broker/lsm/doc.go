// Package lsm is capfd's kernel backstop on kernels with BPF LSM: eBPF
// programs attached to LSM hooks refuse, for processes the broker has marked,
// every filesystem operation that the broker's grants do not allow.
//
// The broker marks a client process through its pidfd (Mark); the mark lives
// in BPF task local storage and is copied into every task the process forks
// or clones, before the new task can run. The broker records what it handed
// out with Grant: (sandbox, device, inode) → a rights.Pair. A hook asks for
// the rights its operation needs on the object (or, for directory entry
// changes, on the parent directory) and returns EPERM when they are missing.
// The rights of an object are the base rights of its own grant, else the
// inherit rights of its nearest granted ancestor directory on the same
// filesystem, else none.
//
// This closes what a user-space broker cannot: a client that holds a
// read-only fd cannot re-open /proc/self/fd/N for writing, truncate through
// the magic link, bind-mount the fd elsewhere, write /proc/self/exe, or exec
// a file it may only read.
//
// stat needs the stat right too, except on kernel-internal mounts (pipes,
// sockets, memfds), which no grant can name. A marked process also may not
// ptrace, read /proc/PID/mem of, or
// pidfd_getfd from a process outside its sandbox.
//
// A sandbox put in capability mode (SetCapMode, as capfd run does from its
// capmode.Policy) is also confined beyond files: its tasks signal only
// tasks of their sandbox (task_kill), connect and bind INET sockets only to
// granted TCP ports (socket_connect, socket_bind; a TCP fast-open send,
// socket_sendmsg, counts as a connect), and connect or bind no Unix socket
// by name themselves, abstract names excepted where given back; see
// CapMode. The rules are in bpf/decide.h.
//
// # Limits
//
//   - Grants are keyed by inode number. If a granted file is deleted behind
//     the broker's back and the filesystem reuses its inode number, the new
//     file inherits the grant: revoke what you delete.
//   - A directory grant reaches down its own filesystem only (the d_parent
//     walk stops at a filesystem root) and at most 32 levels; deeper objects
//     are refused.
//   - mount(2) is checked on its target only: for MS_BIND and MS_MOVE the
//     source is still a string when the hook runs. move_mount checks both.
//   - seek, readdir calls on an open directory, ioctl, locks and sync are
//     not mediated here; the broker layer handles them. Signals are only
//     for sandboxes in capability mode, and SIGIO/SIGURG through F_SETOWN
//     not at all.
//   - Processes forked before Mark are not marked: mark a process before it
//     runs anything (capfd run marks its child before exec).
//
// Probe says whether this kernel can do it at all: "bpf" must be an active
// LSM and the kernel must accept BPF trampoline programs. Hooks differ
// between kernels (file_truncate exists from 6.2); Load probes each in the
// kernel's BTF and reports the ones it skipped.
package lsm
