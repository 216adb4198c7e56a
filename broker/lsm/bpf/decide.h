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

#endif /* CAPFD_DECIDE_H */
