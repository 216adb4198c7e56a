package notify

import "golang.org/x/sys/unix"

// handler answers one notified syscall.
type handler func(*call) result

// served lists every syscall the supervisor answers. A syscall that names a
// path must be either here (and notified) or refused by the filter: one
// left to run natively would let the kernel resolve the program's string
// against the whole filesystem.
var served = []struct {
	name string
	nr   int
	h    handler
}{
	{"open", unix.SYS_OPEN, sysOpen},
	{"openat", unix.SYS_OPENAT, sysOpenat},
	{"openat2", unix.SYS_OPENAT2, sysOpenat2},
	{"creat", unix.SYS_CREAT, sysCreat},
	{"stat", unix.SYS_STAT, sysStat},
	{"lstat", unix.SYS_LSTAT, sysLstat},
	{"newfstatat", unix.SYS_NEWFSTATAT, sysNewfstatat},
	{"statx", unix.SYS_STATX, sysStatx},
	{"statfs", unix.SYS_STATFS, sysStatfs},
	{"access", unix.SYS_ACCESS, sysAccess},
	{"faccessat", unix.SYS_FACCESSAT, sysFaccessat},
	{"faccessat2", unix.SYS_FACCESSAT2, sysFaccessat2},
	{"readlink", unix.SYS_READLINK, sysReadlink},
	{"readlinkat", unix.SYS_READLINKAT, sysReadlinkat},
	{"mkdir", unix.SYS_MKDIR, sysMkdir},
	{"mkdirat", unix.SYS_MKDIRAT, sysMkdirat},
	{"unlink", unix.SYS_UNLINK, sysUnlink},
	{"unlinkat", unix.SYS_UNLINKAT, sysUnlinkat},
	{"rmdir", unix.SYS_RMDIR, sysRmdir},
	{"rename", unix.SYS_RENAME, sysRename},
	{"renameat", unix.SYS_RENAMEAT, sysRenameat},
	{"renameat2", unix.SYS_RENAMEAT2, sysRenameat2},
	{"symlink", unix.SYS_SYMLINK, sysSymlink},
	{"symlinkat", unix.SYS_SYMLINKAT, sysSymlinkat},
	{"link", unix.SYS_LINK, sysLink},
	{"linkat", unix.SYS_LINKAT, sysLinkat},
	{"chmod", unix.SYS_CHMOD, sysChmod},
	{"fchmodat", unix.SYS_FCHMODAT, sysFchmodat},
	{"fchmodat2", sysFchmodat2Nr, sysFchmodat2},
	{"chown", unix.SYS_CHOWN, sysChown},
	{"lchown", unix.SYS_LCHOWN, sysLchown},
	{"fchownat", unix.SYS_FCHOWNAT, sysFchownat},
	{"utimensat", unix.SYS_UTIMENSAT, sysUtimensat},
	{"truncate", unix.SYS_TRUNCATE, sysTruncate},
	{"chdir", unix.SYS_CHDIR, sysChdir},
	// Unix socket addresses (ops_socket_linux.go).
	{"connect", unix.SYS_CONNECT, sysConnect},
	{"bind", unix.SYS_BIND, sysBind},
	// Descriptor forms decided per object (ops_fd_linux.go).
	{"fchmod", unix.SYS_FCHMOD, sysFchmod},
	{"fchown", unix.SYS_FCHOWN, sysFchown},
	{"ftruncate", unix.SYS_FTRUNCATE, sysFtruncate},
	{"fsetxattr", unix.SYS_FSETXATTR, sysFsetxattr},
	{"fremovexattr", unix.SYS_FREMOVEXATTR, sysFremovexattr},
	{"getxattr", unix.SYS_GETXATTR, sysXattrUnsupported},
	{"lgetxattr", unix.SYS_LGETXATTR, sysXattrUnsupported},
	{"listxattr", unix.SYS_LISTXATTR, sysXattrUnsupported},
	{"llistxattr", unix.SYS_LLISTXATTR, sysXattrUnsupported},
	{"setxattr", unix.SYS_SETXATTR, sysXattrUnsupported},
	{"lsetxattr", unix.SYS_LSETXATTR, sysXattrUnsupported},
	{"removexattr", unix.SYS_REMOVEXATTR, sysXattrUnsupported},
	{"lremovexattr", unix.SYS_LREMOVEXATTR, sysXattrUnsupported},
}

// fchmodat2 is 452 on every architecture; x/sys may predate it.
const sysFchmodat2Nr = 452

// refused are path syscalls the supervisor does not serve and the filter
// must fail outright (EPERM, no notification): each resolves a path the
// program chose, or reaches another process's descriptors or memory (which
// would include the supervisor's grant descriptors).
var refused = []string{
	// Paths the supervisor does not emulate.
	"utime", "utimes", "futimesat", "mknod", "mknodat", "chroot",
	"name_to_handle_at", "open_by_handle_at", "uselib", "acct",
	"swapon", "swapoff", "quotactl", "inotify_add_watch", "fanotify_mark",
	"getxattrat", "setxattrat", "listxattrat", "removexattrat",
	// Another process's memory and descriptors.
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	// io_uring performs opens (IORING_OP_OPENAT) in the kernel, where no
	// seccomp filter sees them.
	"io_uring_setup", "io_uring_enter", "io_uring_register",
}

// handlerByNr indexes served by syscall number for the hot path.
var handlerByNr = func() []handler {
	maxNr := 0
	for _, s := range append(served, servedIf...) {
		maxNr = max(maxNr, s.nr)
	}
	t := make([]handler, maxNr+1)
	for _, s := range append(served, servedIf...) {
		t[s.nr] = s.h
	}
	return t
}()
