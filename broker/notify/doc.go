// Package notify is the supervisor of `capfd run`: it lets an unmodified
// program run in capability mode by answering its path syscalls itself,
// through seccomp user notification.
//
// The program runs under a seccomp filter (Filter) whose path syscalls
// return SECCOMP_RET_USER_NOTIF. For each one the supervisor
//
//  1. receives the notification (SECCOMP_IOCTL_NOTIF_RECV) on a dedicated,
//     locked thread (a pool of them on Linux 6.6+, see pool_linux.go);
//  2. copies the path out of the program's memory (process_vm_readv,
//     bounded by PATH_MAX, NUL-terminated) and, for a relative path, reads
//     the directory the program's dirfd or cwd names in /proc/PID;
//  3. checks SECCOMP_IOCTL_NOTIF_ID_VALID: the task is still waiting, so
//     its pid was not recycled while we read (for a read-only open, whose
//     one effect is the descriptor, ADDFD is that check, atomically with
//     the install);
//  4. cleans the path lexically and matches it against the grants (the
//     longest whole-component prefix wins);
//  5. checks the rights the operation needs (vfsops.OpenRights for opens)
//     against the grant: base rights for the granted object and its
//     entries, inherit rights deeper down;
//  6. performs the operation itself, resolving the rest of the path beneath
//     the grant's own descriptor with openat2(RESOLVE_BENEATH|
//     RESOLVE_NO_MAGICLINKS) through vfsops; and
//  7. answers: an opened file is installed in the program with
//     SECCOMP_IOCTL_NOTIF_ADDFD and the syscall completed with its number
//     by NOTIF_SEND (never ADDFD_FLAG_SEND, whose interrupted form answers
//     0: see installAndRespond; O_CLOEXEC is honoured), stat buffers are
//     written back with process_vm_writev, other calls get their result or
//     errno.
//
// A refusal answers EACCES (what DAC and Landlock answer for a path one may
// not use) and logs "capfd: not capable: open /etc/shadow (needs read,
// outside every grant)".
//
// # Why there is no TOCTOU window
//
// The supervisor never uses SECCOMP_USER_NOTIF_FLAG_CONTINUE. CONTINUE
// would let the kernel run the original syscall, which re-reads the path
// from the program's memory: another thread of the program could swap
// "data/x" for "/etc/shadow" between our check and the kernel's read. Here
// the kernel never resolves a string of the program's: the supervisor acts
// on its own copy, beneath a descriptor it opened itself at start-up, and
// hands back the resulting descriptor. Whatever the program does to its
// memory after the copy changes nothing.
//
// The same holds for the things a path is relative to. The program's cwd
// and dirfds are read from /proc as path *names* and re-checked against
// the grants like any absolute path; they carry no authority. So a
// directory descriptor obtained some other way, a chdir outside every grant
// (chdir and fchdir run natively), or a directory renamed after the
// readlink can only change which name is checked, never let a lookup start
// outside a grant. Symlinks and ".." inside the rest of the path are
// resolved by the kernel with RESOLVE_BENEATH from the grant's descriptor,
// so they cannot leave it; /proc/self/fd/N and other magic links are
// refused (RESOLVE_NO_MAGICLINKS), and procfs itself cannot be granted.
//
// # Choices
//
//   - Relative paths: anchored at the cwd's (or dirfd's) current path, as
//     above. A cwd outside every grant makes relative names fail unless the
//     joined path lies in a grant.
//   - Dirfds: used as names, not looked up in a table of issued fds. A table
//     keyed by (dev, ino) would trust a directory because of what it is,
//     not how it was reached, and would need pruning; the name rule needs
//     no state and gives the same answers for fds the supervisor issued.
//   - O_PATH opens: the kernel cannot install an O_PATH file in another
//     process (ADDFD uses fget(), which refuses FMODE_PATH files), so a
//     directory is given O_RDONLY|O_DIRECTORY and a regular file O_RDONLY,
//     if the rights allow reading it; others are refused.
//   - Blocking opens (FIFOs): every open is probed with O_NONBLOCK, and a
//     FIFO open that would wait is finished by a goroutine that polls
//     without blocking and holds no thread (openIn, fifo_linux.go), so no
//     number of waiting opens can stall the workers.
//   - xattr syscalls with a path answer EOPNOTSUPP; the fd forms run
//     natively.
//   - Files are created by the supervisor, so with its uid/gid; capfd run
//     gives the program the same credentials. The program's umask is read
//     from /proc/PID/status and applied.
//
// Writes into the program's memory (stat buffers, readlink) go through a
// validated /proc/TID/mem descriptor, which is bound to the address space,
// so a recycled tid can never direct them at a process outside the sandbox
// (writeMemory).
//
// # Residual risks (documented, not hidden)
//
//   - A FIFO open returns up to fifoPollMax after its other end appears,
//     and a writer is not released by a reader that opens and closes
//     between two tries (fifo_linux.go).
package notify
