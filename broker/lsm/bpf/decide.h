/* SPDX-License-Identifier: GPL-2.0 */
/*
 * decide.h: the BPF program's copies of capfd's rules, as pure functions of
 * plain values so that they also compile as ordinary C. The rules are
 * vfsops.Request.Needs (Go); TestDecideMatchesRequest (broker/lsm) builds
 * this header with the host's C compiler and compares every answer with
 * Go's, and TestRightsEnumMatchesPackage compares the enum with package
 * rights. Either fails on any difference.
 */
#ifndef CAPFD_DECIDE_H
#define CAPFD_DECIDE_H

/* Rights bits: github.com/capfd/capfd/rights, whose bit order is ABI. A Go
 * test compares every value here with the rights package. */
enum right {
	RIGHT_LOOKUP = 1ULL << 0,
	RIGHT_READ = 1ULL << 1,
	RIGHT_WRITE = 1ULL << 2,
	RIGHT_APPEND = 1ULL << 3,
	RIGHT_SEEK = 1ULL << 4,
	RIGHT_STAT = 1ULL << 5,
	RIGHT_TRUNCATE = 1ULL << 6,
	RIGHT_EXEC = 1ULL << 7,
	RIGHT_CREATE = 1ULL << 8,
	RIGHT_MKDIR = 1ULL << 9,
	RIGHT_UNLINK = 1ULL << 10,
	RIGHT_RENAME_FROM = 1ULL << 11,
	RIGHT_RENAME_TO = 1ULL << 12,
	RIGHT_LINK_FROM = 1ULL << 13,
	RIGHT_LINK_TO = 1ULL << 14,
	RIGHT_SYMLINK = 1ULL << 15,
	RIGHT_READLINK = 1ULL << 16,
	RIGHT_READDIR = 1ULL << 17,
	RIGHT_CHMOD = 1ULL << 18,
	RIGHT_CHOWN = 1ULL << 19,
	RIGHT_CHTIMES = 1ULL << 20,
	RIGHT_XATTR_GET = 1ULL << 21,
	RIGHT_XATTR_SET = 1ULL << 22,
	RIGHT_LOCK = 1ULL << 23,
	RIGHT_SYNC = 1ULL << 24,
	RIGHT_MMAP_EXEC = 1ULL << 25,
	RIGHT_IOCTL = 1ULL << 26,
	RIGHT_MOUNT = 1ULL << 27,
};

/* Kernel constants that BTF does not carry (they are macros). */
#define DECIDE_FMODE_READ 0x1
#define DECIDE_FMODE_WRITE 0x2
#define DECIDE_O_TRUNC 01000
#define DECIDE_O_APPEND 02000
#define DECIDE_O_TMPFILE 020000000 /* __O_TMPFILE: O_TMPFILE less O_DIRECTORY */
#define DECIDE_RENAME_NOREPLACE (1 << 0)
#define DECIDE_RENAME_EXCHANGE (1 << 1)

/* open_need is vfsops.OpenRights' file rights for an open the kernel has
 * made with f_mode fmode and f_flags flags (an O_PATH open never reaches
 * file_open) of an object that is a directory (isdir) or not: read (readdir
 * for a read-only open of a directory: its data are its entries), write (append with
 * O_APPEND, never implied by write: they are separate rights), truncate
 * for O_TRUNC, and ioctl for access mode 3, which neither reads nor
 * writes. */
static __always_inline __u64 open_need(unsigned int fmode, unsigned int flags, int isdir)
{
	__u64 need = 0;

	if (fmode & DECIDE_FMODE_READ)
		need |= isdir && !(fmode & DECIDE_FMODE_WRITE) ? RIGHT_READDIR : RIGHT_READ;
	if (fmode & DECIDE_FMODE_WRITE)
		need |= (flags & DECIDE_O_APPEND) ? RIGHT_APPEND : RIGHT_WRITE;
	if (!(fmode & (DECIDE_FMODE_READ | DECIDE_FMODE_WRITE)))
		need |= RIGHT_IOCTL;
	if (flags & DECIDE_O_TRUNC)
		need |= RIGHT_TRUNCATE;
	return need;
}

/* open_dir_need is what an open with flags needs of the directory its file
 * is in, beyond what a create hook asks: an O_TMPFILE open makes its
 * unnamed file in the directory named, and reaches no create hook
 * (vfs_tmpfile calls neither inode_create nor path_mknod), so file_open asks
 * create there itself. O_CREAT's create is inode_create's. */
static __always_inline __u64 open_dir_need(unsigned int flags)
{
	return (flags & DECIDE_O_TMPFILE) ? RIGHT_CREATE : 0;
}

/* rename_need is vfsops.Request.Needs for OpRename, less lookup (the
 * kernel looked both names up already): rename-from on the old directory
 * and rename-to on the new one; an exchange moves both entries both ways;
 * replacing an existing entry destroys it and needs unlink too. */
static __always_inline void rename_need(unsigned int flags, int new_exists, __u64 *need_old, __u64 *need_new)
{
	*need_old = RIGHT_RENAME_FROM;
	*need_new = RIGHT_RENAME_TO;
	if (flags & DECIDE_RENAME_EXCHANGE) {
		*need_old |= RIGHT_RENAME_TO;
		*need_new |= RIGHT_RENAME_FROM;
	} else if (new_exists && !(flags & DECIDE_RENAME_NOREPLACE)) {
		*need_new |= RIGHT_UNLINK;
	}
}

/* ---- capability mode: sockets and signals ----
 *
 * A sandbox in capability mode (an entry in the capmode map) has its flags:
 * what capmode.Policy gives back. The rules below are the kernel's half of
 * capmode (broker/capmode); TestCapModeDecisions holds them to it. */
#define CAPMODE_NET (1U << 0) /* Policy.Net: every address and port */
#define CAPMODE_ABSTRACT (1U << 1) /* Policy.Abstract: abstract Unix names */
#define CAPMODE_SIGNAL (1U << 2) /* Policy.Signal: signals beyond the sandbox */

#define DECIDE_AF_UNSPEC 0
#define DECIDE_AF_UNIX 1
#define DECIDE_AF_INET 2
#define DECIDE_AF_INET6 10
/* sockaddr_in's sin_port and sockaddr_in6's sin6_port are both at offset
 * 2, as sockaddr_un's sun_path: an address shorter than 4 bytes has no
 * port. */
#define DECIDE_ADDR_PORT_END 4
#define DECIDE_SUN_PATH_OFFSET 2

enum net_op {
	NET_CONNECT = 0,
	NET_BIND = 1,
};

/* What an address given to connect or bind reaches, as far as capability
 * mode is concerned. */
enum net_addr {
	NET_ADDR_NONE, /* nothing by name: allowed */
	NET_ADDR_TCP_PORT, /* a TCP port: allowed if granted, or with CAPMODE_NET */
	NET_ADDR_INET, /* any other INET address: only with CAPMODE_NET */
	NET_ADDR_UNIX_ABSTRACT, /* an abstract Unix name: only with CAPMODE_ABSTRACT */
	NET_ADDR_UNIX_PATH, /* a pathname Unix socket: never by the task itself */
};

/*
 * net_addr_kind classifies the address of a connect or bind (op) of addrlen
 * bytes, whose family field reads addr_family and whose byte at offset 2
 * (a Unix address's first sun_path byte) is sun_path0, on a socket of
 * family sock_family that is a TCP socket (is_tcp) or not. The socket's
 * family decides, not the address's: a socket never changes domain, and
 * the kernel refuses an address of another family (or maps it, as an
 * IPv4 address on an IPv6 socket), so the port at offset 2 is what the
 * kernel uses.
 *
 *   - INET, connect to AF_UNSPEC: a disconnect, which reaches nothing.
 *   - INET, otherwise: a TCP socket's port (bind's AF_UNSPEC on an AF_INET
 *     socket is the legacy INADDR_ANY bind, to that port too); any other
 *     INET socket (UDP, raw, SCTP, MPTCP), or an address too short to
 *     hold a port, needs the whole network.
 *   - UNIX with a family other than AF_UNIX or no name (bind's autobind
 *     to a random abstract name, a datagram socket's AF_UNSPEC
 *     disconnect): nothing is reached by name; the kernel answers the rest
 *     with EINVAL. A leading NUL is an abstract name, else a pathname.
 *   - Every other family (netlink, which capmode's seccomp rules let libc
 *     have): seccomp decides which of those sockets can exist; their
 *     addresses name no network peer.
 */
static __always_inline int net_addr_kind(int op, int sock_family, int is_tcp, int addr_family, int addrlen, int sun_path0)
{
	switch (sock_family) {
	case DECIDE_AF_INET:
	case DECIDE_AF_INET6:
		if (op == NET_CONNECT && addrlen >= 2 && addr_family == DECIDE_AF_UNSPEC)
			return NET_ADDR_NONE;
		if (!is_tcp || addrlen < DECIDE_ADDR_PORT_END)
			return NET_ADDR_INET;
		return NET_ADDR_TCP_PORT;
	case DECIDE_AF_UNIX:
		if (addr_family != DECIDE_AF_UNIX || addrlen <= DECIDE_SUN_PATH_OFFSET)
			return NET_ADDR_NONE;
		return sun_path0 == 0 ? NET_ADDR_UNIX_ABSTRACT : NET_ADDR_UNIX_PATH;
	default:
		return NET_ADDR_NONE;
	}
}

/*
 * net_allowed decides an address of kind (net_addr_kind) for a sandbox
 * with capability-mode flags, port_granted saying whether the port is
 * among the sandbox's granted ones for the operation.
 *
 * A pathname Unix socket is never connected or bound by a marked task
 * itself: under capfd run the supervisor performs every such connect and
 * bind on the program's socket (broker/notify, sysConnect), after checking
 * the grant, from its own (unmarked) thread, so this hook passes it; a
 * marked task whose own call reaches the kernel went around the supervisor.
 * Abstract names are performed by the supervisor too, and only with
 * --allow-abstract; the whole network does not give them back, as there.
 */
static __always_inline int net_allowed(__u32 flags, int kind, int port_granted)
{
	switch (kind) {
	case NET_ADDR_NONE:
		return 1;
	case NET_ADDR_TCP_PORT:
		return (flags & CAPMODE_NET) || port_granted;
	case NET_ADDR_INET:
		return !!(flags & CAPMODE_NET);
	case NET_ADDR_UNIX_ABSTRACT:
		return !!(flags & CAPMODE_ABSTRACT);
	default:
		return 0;
	}
}

/* signal_allowed: a task in capability mode signals (signal 0, the
 * existence probe, included) only tasks of its own sandbox, unless
 * CAPMODE_SIGNAL gives the rest back. */
static __always_inline int signal_allowed(__u32 flags, int same_sandbox)
{
	return same_sandbox || (flags & CAPMODE_SIGNAL);
}

#endif /* CAPFD_DECIDE_H */
