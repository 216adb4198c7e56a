// Package notify is the supervisor of `capfd run`: it lets an unmodified
// program run in capability mode by answering its path syscalls itself,
// through seccomp user notification. broker/notify/launch is the launch
// sequence that puts a program under it (stage 2, namespaces, exit status).
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
//     longest whole-component prefix wins); where names can mislead
//     (nested grants, base rights narrower than inherit) the location is
//     then pinned to the object it reaches, by identity (place_linux.go);
//  5. checks the rights the operation needs (vfsops.OpenRights for opens)
//     against the grant: base rights for the granted object and its
//     entries, inherit rights deeper down, the nearest grant by identity
//     deciding;
//  6. performs the operation itself, with the calling thread's credentials
//     (see "Whose credentials" below), resolving the rest of the path
//     beneath the grant's own descriptor with openat2(RESOLVE_BENEATH|
//     RESOLVE_NO_MAGICLINKS) through vfsops; and
//  7. answers: an opened file is installed in the program with
//     SECCOMP_IOCTL_NOTIF_ADDFD and the syscall completed with its number
//     by NOTIF_SEND (never ADDFD_FLAG_SEND, whose interrupted form answers
//     0: see installAndRespond; O_CLOEXEC is honoured), stat buffers are
//     written back with process_vm_writev, other calls get their result or
//     errno.
//
// A refusal in a grant answers EACCES (what DAC and Landlock answer for a
// path one may not use); a path outside every grant is absent, ENOENT
// whether or not it exists, except the directories above the grants,
// which exist for stat, access, chdir and O_PATH (the view of skeleton_linux.go).
// Either way the supervisor logs "capfd: not capable: open /etc/shadow
// (needs read, outside every grant; --grant /etc/shadow=ro would allow
// it)": a refusal outside every grant says which grant would allow it.
//
// # Why there is no TOCTOU window
//
// The supervisor never uses SECCOMP_USER_NOTIF_FLAG_CONTINUE for a file
// operation (its uses, chdir into or above a grant, which opens nothing,
// and connect or bind of a socket that is not a Unix one, which names no
// file, are argued in ops_chdir_linux.go and ops_socket_linux.go). CONTINUE
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
// directory descriptor obtained some other way, a chdir that raced its
// check (chdir is checked, then run by the kernel; fchdir runs natively),
// or a directory renamed after the
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
//     directory the rights let the program list is given O_RDONLY|
//     O_DIRECTORY and a file it may read O_RDONLY; anything else gets a
//     stand-in bound to the object only by its name (standin_linux.go).
//   - Blocking opens (FIFOs): every open is probed with O_NONBLOCK, and a
//     FIFO open that would wait is finished by a goroutine that polls
//     without blocking and holds no thread (openIn, fifo_linux.go), so no
//     number of waiting opens can stall the workers.
//   - xattr syscalls with a path answer EOPNOTSUPP; fsetxattr and
//     fremovexattr are decided per object (below).
//   - The program's umask is read from /proc/TID/status (with its
//     credentials, below) and applied to creates.
//
// # Per-object descriptor operations
//
// A descriptor carries no rights, so the calls that change an object
// through one (fchmod, fchown, ftruncate, fsetxattr, fremovexattr, futimens
// and the AT_EMPTY_PATH forms, the attribute ioctls FS_IOC_SETFLAGS and
// FS_IOC_FSSETXATTR, and, while some grant is append-only, F_SETFL without
// O_APPEND and fallocate beyond KEEP_SIZE) are notified and decided by the
// rights of the object the descriptor refers to: the supervisor
// duplicates it (pidfd_getfd), reads its duplicate's path from
// /proc/self/fd, matches that against the grants, takes the object's
// rights as for a path, and performs the call on the duplicate (which
// shares the task's open file description) as the task. ioctl, fcntl and
// fallocate are notified only for those argument values (seccomp.ArgMatch,
// compared on the low 32 bits the kernel reads), so terminals and the Go
// runtime keep their native calls. Refusals answer EPERM. Details and the
// calls refused outright (RWF_NOAPPEND, shared file mappings next to an
// append-only grant): ops_fd_linux.go, filter_fd_linux.go, docs/run.md.
//
// # Whose credentials
//
// Grants narrow what the kernel would allow the program; they must never
// widen it. So the supervisor does not act as itself (a root supervisor
// would read any file in a grant for a program that dropped to another uid
// or lost its capabilities): every VFS operation it performs for a
// notification (the lookups, opens, creates, unlinks, renames, links,
// symlinks, mkdir, chmod, chown, utimensat, truncate, readlink, access and
// the O_PATH lookups behind stat and statfs) runs with the notifying
// thread's credentials as the kernel would check them:
//
//   - its fsuid and fsgid (access(2) without AT_EACCESS: its real uid and
//     gid, as do_faccessat takes them), so files it creates are its own;
//   - its supplementary groups;
//   - its effective capabilities, as far as the supervisor's permitted set
//     holds them (access(2): none unless the real uid is root, whose check
//     uses its permitted set). Capabilities held in another user namespace
//     (the program's own, or one it unshared) are not used at all: they
//     apply there to the files its mappings cover, which the supervisor
//     cannot tell apart cheaply, so it uses none (narrower, never wider).
//
// Mechanism (creds_linux.go, c.asCaller). Every worker goroutine is locked
// to its OS thread for its whole life (pool_linux.go, Serve), and the
// goroutine finishing a FIFO writer's open holds its thread while it acts
// (awaitReader); asCaller never runs on an unlocked goroutine. For each
// notification the supervisor reads /proc/TID/status of the notifying
// thread (credentials are per thread), through a descriptor of /proc/TID
// that was opened and then proven to be the notifier's by ID_VALID, like
// the pidfds and /proc/TID/mem descriptors: such a descriptor is bound to
// the task, not the number, and reads fail once the task is gone, so a
// recycled tid can never lend its credentials. The file is read again for
// every notification (procfs regenerates it on each read from offset 0):
// nothing is cached across notifications, so a credential change between
// two system calls is always seen. Around the operation itself, and only
// there, the thread switches with per-thread raw system calls (setgroups,
// setfsgid, setfsuid, then capset of the effective set, since setfsuid
// adjusts it; never Go's syscall.Setgroups and friends, which change every
// thread) and switches back afterwards (capabilities first, to regain
// CAP_SETUID/CAP_SETGID). Reading and writing the program's memory,
// pidfd_getfd, the /proc links and the seccomp ioctls keep the
// supervisor's own credentials. Go never clones a thread from a locked one
// (newm hands that to its template thread), so a switched thread's
// credentials cannot leak into a new one. If the switch is refused (a
// supervisor without CAP_SETUID/CAP_SETGID and a program whose ids
// differ), the operation is refused with EACCES; if switching back ever
// failed, the thread would stop serving and end.
//
// The grant descriptors were opened by the supervisor, so, as with any
// directory descriptor handed to a process, lookups beneath a grant need
// search permission from the grant down, not on the grant's ancestors.
//
// Cost: one pread of /proc/TID/status per notification that reaches an
// operation, and for a program whose credentials differ from the
// supervisor's (the default for a root launcher: the program has no
// capabilities) two capset calls and a capget; setfsuid, setfsgid and
// setgroups only when the ids or groups differ.
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
