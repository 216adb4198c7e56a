// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * capfd's kernel backstop: BPF LSM programs that refuse, for tasks the broker
 * has marked, every filesystem operation the broker's grants do not allow.
 *
 * Model. A marked task carries a sandbox id in task local storage. Grants are
 * keyed by (sandbox, device, inode) and hold a rights pair: "base" for the
 * object itself and "inherit", for a directory, the ceiling of everything
 * beneath it. The rights an object has in a sandbox are the base rights of its
 * own grant, else the inherit rights of its nearest granted ancestor, else
 * none. Hooks ask for the rights their operation needs and return -EPERM when
 * they are missing.
 *
 * Unmarked tasks leave every hook after one or two task-storage lookups, so
 * the rest of the system pays next to nothing.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define EPERM 1
#define EACCES 13

#include "decide.h"

/* One counter per hook, in this order; the Go side names them. Keep in sync
 * with hookNames in hooks.go (a test checks the count). */
enum hook {
	HOOK_FILE_OPEN,
	HOOK_FILE_TRUNCATE,
	HOOK_PATH_TRUNCATE,
	HOOK_FILE_FCNTL,
	HOOK_SB_MOUNT,
	HOOK_MOVE_MOUNT,
	HOOK_SB_PIVOTROOT,
	HOOK_SB_UMOUNT,
	HOOK_BPRM_CHECK_SECURITY,
	HOOK_MMAP_FILE,
	HOOK_FILE_MPROTECT,
	HOOK_INODE_SETATTR,
	HOOK_INODE_CREATE,
	HOOK_INODE_MKNOD,
	HOOK_INODE_MKDIR,
	HOOK_INODE_UNLINK,
	HOOK_INODE_RMDIR,
	HOOK_PATH_RENAME,
	HOOK_INODE_LINK,
	HOOK_INODE_SYMLINK,
	HOOK_INODE_READLINK,
	HOOK_INODE_SETXATTR,
	HOOK_INODE_REMOVEXATTR,
	HOOK_INODE_GETXATTR,
	HOOK_INODE_LISTXATTR,
	HOOK_PTRACE_ACCESS_CHECK,
	HOOK_INODE_GETATTR,
	HOOK_FILE_IOCTL,
	HOOK_INODE_FILE_SETATTR,
	HOOK_INODE_FILE_GETATTR,
	HOOK_TASK_KILL,
	HOOK_SOCKET_CONNECT,
	HOOK_SOCKET_BIND,
	HOOK_SOCKET_SENDMSG,
	HOOK_COUNT,
	/* The counter after the hooks counts denials the ring buffer had no
	 * room for: they were refused but not reported. */
	COUNTER_RINGBUF_FULL = HOOK_COUNT,
	COUNTER_COUNT,
};

/* Kernel constants that BTF does not carry (they are macros). */
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define __FMODE_EXEC 0x20 /* in f_flags: the open flag exec opens with */
#define S_IFMT 00170000
#define S_IFDIR 0040000
#define PROT_EXEC 0x4
#define F_SETFL 4
#define CLONE_THREAD 0x00010000
#define MNT_INTERNAL 0x4000
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define MSG_FASTOPEN 0x20000000

#define ATTR_MODE (1 << 0)
#define ATTR_UID (1 << 1)
#define ATTR_GID (1 << 2)
#define ATTR_SIZE (1 << 3)
#define ATTR_ATIME (1 << 4)
#define ATTR_MTIME (1 << 5)
#define ATTR_ATIME_SET (1 << 7)
#define ATTR_MTIME_SET (1 << 8)
#define ATTR_TIMES_SET (1 << 16)
#define ATTR_TOUCH (1 << 17)

/* How far up the tree a grant on a directory reaches. A deeper object is
 * refused: failing closed is the safe way to run out of loop. */
#define MAX_DEPTH 32

struct mark {
	__u32 sandbox;
};

struct grant_key {
	__u32 sandbox;
	__u32 dev; /* kernel dev_t: MAJOR << 20 | MINOR */
	__u64 ino;
};

struct grant_val {
	__u64 base;
	__u64 inherit;
};

struct denial {
	enum hook hook;
	__u32 pid; /* thread group id */
	__u32 sandbox;
	__u32 dev;
	__u64 ino;
	__u64 needed; /* the rights the operation asked for and lacked */
	__u64 granted; /* the rights the object had */
	/* Capability mode's hooks, which refuse no object: */
	__u32 target; /* task_kill: the thread group id of the task signalled */
	__u32 sig; /* task_kill: the signal (0: the existence probe) */
	__u32 family; /* socket hooks: the socket's address family */
	__u32 port; /* socket hooks: the port, for an INET address; else 0 */
};

/* A sandbox in capability mode: present in the capmode map, with the flags
 * (CAPMODE_*, decide.h) of what its policy gives back. A sandbox without an
 * entry (the broker's clients, which keep their ambient authority beyond
 * files) is left alone by the capability-mode hooks. */
struct capmode_val {
	__u32 flags;
};

/* A TCP port granted to a sandbox for connect (op NET_CONNECT) or bind
 * (NET_BIND). The port is in host byte order. */
struct port_key {
	__u32 sandbox;
	__u16 port;
	__u16 op;
};

/* Put struct denial (and with it enum hook) into BTF, so that bpf2go
 * generates their Go twins. The variable itself is never used; the loader
 * drops the .bss map it lives in. */
const struct denial *unused_denial __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mark);
} marks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct grant_key);
	__type(value, struct grant_val);
} grants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct capmode_val);
} capmode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct port_key);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} denials SEC(".maps");

/*
 * current_mark returns the calling task's mark, or NULL if it is unmarked.
 *
 * User space can only address a process's thread-group leader (a pidfd names
 * the leader), so Mark lands on the leader and every thread of the process
 * finds it through group_leader. Processes forked later get their own copy
 * in task_alloc; a thread that execs gets one in bprm_check_security.
 */
static __always_inline struct mark *current_mark(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mark *m = bpf_task_storage_get(&marks, task, 0, 0);

	if (m)
		return m;
	return bpf_task_storage_get(&marks, task->group_leader, 0, 0);
}

static __always_inline __u32 dentry_dev(struct dentry *d)
{
	return BPF_CORE_READ(d, d_sb, s_dev);
}

static __always_inline __u64 dentry_ino(struct dentry *d)
{
	return BPF_CORE_READ(d, d_inode, i_ino);
}

/*
 * rights_of returns the rights sandbox holds on the object at d: the base
 * rights of d's own grant, else the inherit rights of the nearest granted
 * ancestor. The walk follows d_parent, which stops at the root of d's
 * filesystem: a directory grant never reaches across a mount point, just as
 * openat2's RESOLVE_NO_XDEV would not.
 */
static __always_inline __u64 rights_of(__u32 sandbox, struct dentry *d)
{
	struct grant_key key = {.sandbox = sandbox};
	struct grant_val *g;
	struct dentry *parent;
	int depth;

	if (!d)
		return 0;
	key.dev = dentry_dev(d);
	for (depth = 0; depth < MAX_DEPTH; depth++) {
		/* A negative dentry (a name being created) has no inode and
		 * no grant: its rights come from its directory. */
		key.ino = dentry_ino(d);
		if (key.ino) {
			g = bpf_map_lookup_elem(&grants, &key);
			if (g)
				return depth == 0 ? g->base : g->inherit;
		}
		parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			return 0;
		d = parent;
	}
	return 0;
}

static __always_inline void count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &counter);

	/* Per-CPU slot: a plain increment cannot race. */
	if (c)
		(*c)++;
}

/* reserve_denial counts a denial by hook and returns a zeroed record for it
 * with hook, pid and sandbox filled in, or NULL (counted) if the ring
 * buffer is full: the operation is refused either way. */
static __always_inline struct denial *reserve_denial(enum hook hook, struct mark *m)
{
	struct denial *e;

	count(hook);
	e = bpf_ringbuf_reserve(&denials, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->hook = hook;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->sandbox = m->sandbox;
	return e;
}

static __always_inline int deny(enum hook hook, struct mark *m, struct dentry *d,
				__u64 needed, __u64 granted)
{
	struct denial *e = reserve_denial(hook, m);

	if (!e)
		return -EPERM;
	e->dev = d ? dentry_dev(d) : 0;
	e->ino = d ? dentry_ino(d) : 0;
	e->needed = needed & ~granted;
	e->granted = granted;
	bpf_ringbuf_submit(e, 0);
	return -EPERM;
}

/* require_all refuses unless the object at d holds every right in need. */
static __always_inline int require_all(enum hook hook, struct mark *m, struct dentry *d, __u64 need)
{
	__u64 have = rights_of(m->sandbox, d);

	if ((have & need) == need)
		return 0;
	return deny(hook, m, d, need, have);
}

/* require_any refuses unless the object at d holds at least one right in any. */
static __always_inline int require_any(enum hook hook, struct mark *m, struct dentry *d, __u64 any)
{
	__u64 have = rights_of(m->sandbox, d);

	if (have & any)
		return 0;
	return deny(hook, m, d, any, have);
}

/* ---- marks follow the task tree ---- */

SEC("lsm/task_alloc")
int BPF_PROG(task_alloc, struct task_struct *task, unsigned long clone_flags)
{
	struct mark *m;

	/* A new thread shares its leader, and with it the leader's mark:
	 * nothing to copy, and Unmark of the process then reaches it too. */
	if (clone_flags & CLONE_THREAD)
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	/* A new process gets its own copy before it can run: a child of a
	 * marked task is born marked. If the storage cannot be allocated the
	 * fork fails rather than produce an unmarked child. */
	if (!bpf_task_storage_get(&marks, task, m, BPF_LOCAL_STORAGE_GET_F_CREATE))
		return -EPERM;
	return 0;
}

/* ---- opening and truncating files ---- */

SEC("lsm/file_open")
int BPF_PROG(file_open, struct file *file)
{
	struct mark *m = current_mark();
	struct dentry *d;
	fmode_t mode;
	unsigned int flags;
	__u64 need = 0, have;

	if (!m)
		return 0;
	d = BPF_CORE_READ(file, f_path.dentry);
	mode = BPF_CORE_READ(file, f_mode);
	flags = BPF_CORE_READ(file, f_flags);

	/* An exec open (execve's binary, the ELF interpreter, uselib) reads
	 * the file to map it executable: that needs exec or mmap-exec, and
	 * bprm_check_security then insists on exec for the program itself.
	 * f_mode gets FMODE_EXEC only after this hook on some kernels; the
	 * __FMODE_EXEC open flag is there from the start (the test LSMs use
	 * since Linux 6.8). */
	if ((mode & FMODE_EXEC) || (flags & __FMODE_EXEC))
		return require_any(HOOK_FILE_OPEN, m, d, RIGHT_EXEC | RIGHT_MMAP_EXEC);

	/* This is where /proc/self/fd/N re-opens, /proc/PID/map_files and
	 * /proc/self/exe end up: the magic link has been followed, file is the
	 * target, and the access asked for is checked against the target's
	 * grant, not against the fd the path went through. */
	if (open_dir_need(flags)) {
		int err = require_all(HOOK_FILE_OPEN, m, BPF_CORE_READ(d, d_parent), open_dir_need(flags));

		if (err)
			return err;
	}
	need = open_need(mode, flags, (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) == S_IFDIR);
	have = rights_of(m->sandbox, d);
	if ((have & need) == need)
		return 0;
	return deny(HOOK_FILE_OPEN, m, d, need, have);
}

/* fcntl(F_SETFL) can clear O_APPEND: that would turn an append-only open
 * into a full writer, so clearing it needs the write right. */
SEC("lsm/file_fcntl")
int BPF_PROG(file_fcntl, struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mark *m;

	if (cmd != F_SETFL || (arg & DECIDE_O_APPEND))
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	if (!(BPF_CORE_READ(file, f_flags) & DECIDE_O_APPEND) || !(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return 0;
	return require_all(HOOK_FILE_FCNTL, m, BPF_CORE_READ(file, f_path.dentry), RIGHT_WRITE);
}

/* The inode flag ioctls (chattr +a/+i, FS_IOC_FSSETXATTR) change an
 * object's attributes through any descriptor of it, a read-only one too:
 * they need xattr-set on the object, as in the supervisor. Other ioctls
 * are the device's business (open mode 3 and Landlock's IOCTL_DEV). */
#define FS_IOC_SETFLAGS 0x40086602
#define FS_IOC32_SETFLAGS 0x40046602
#define FS_IOC_FSSETXATTR 0x401c5820

SEC("lsm/file_ioctl")
int BPF_PROG(file_ioctl, struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mark *m;

	if (cmd != FS_IOC_SETFLAGS && cmd != FS_IOC32_SETFLAGS && cmd != FS_IOC_FSSETXATTR)
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	return require_all(HOOK_FILE_IOCTL, m, BPF_CORE_READ(file, f_path.dentry), RIGHT_XATTR_SET);
}

/* file_setattr(2) and file_getattr(2) (Linux 6.17) do the same by path:
 * xattr-set and xattr-get on the object reached. On older kernels the
 * hooks do not exist and are skipped (hooks.go), as are the syscalls. */
struct file_kattr;

SEC("lsm/inode_file_setattr")
int BPF_PROG(inode_file_setattr, struct dentry *dentry, struct file_kattr *fa)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_FILE_SETATTR, m, dentry, RIGHT_XATTR_SET);
}

SEC("lsm/inode_file_getattr")
int BPF_PROG(inode_file_getattr, struct dentry *dentry, struct file_kattr *fa)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_FILE_GETATTR, m, dentry, RIGHT_XATTR_GET);
}

/* truncate(2), and on kernels without file_truncate also ftruncate(2) and
 * O_TRUNC. truncate("/proc/self/fd/N") arrives here with the target's path. */
SEC("lsm/path_truncate")
int BPF_PROG(path_truncate, const struct path *path)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_PATH_TRUNCATE, m, BPF_CORE_READ(path, dentry), RIGHT_TRUNCATE);
}

/* ftruncate(2) and O_TRUNC, from Linux 6.2. */
SEC("lsm/file_truncate")
int BPF_PROG(file_truncate, struct file *file)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_FILE_TRUNCATE, m, BPF_CORE_READ(file, f_path.dentry), RIGHT_TRUNCATE);
}

/* ---- exec and executable mappings ---- */

SEC("lsm/bprm_check_security")
int BPF_PROG(bprm_check_security, struct linux_binprm *bprm)
{
	struct task_struct *task;
	struct mark *m = current_mark();

	if (!m)
		return 0;
	/* exec from a thread other than the leader makes that thread the new
	 * leader and frees the old one, with the mark that user space put
	 * there. Give the thread its own copy before that happens. */
	task = bpf_get_current_task_btf();
	if (!bpf_task_storage_get(&marks, task, m, BPF_LOCAL_STORAGE_GET_F_CREATE))
		return -EPERM;
	return require_all(HOOK_BPRM_CHECK_SECURITY, m, BPF_CORE_READ(bprm, file, f_path.dentry), RIGHT_EXEC);
}

/* Executable mappings of a file need mmap-exec; exec implies it, since the
 * kernel maps a program it executes. */
SEC("lsm/mmap_file")
int BPF_PROG(mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags)
{
	struct mark *m;

	if (!file || !(prot & PROT_EXEC))
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	return require_any(HOOK_MMAP_FILE, m, BPF_CORE_READ(file, f_path.dentry), RIGHT_MMAP_EXEC | RIGHT_EXEC);
}

/* mprotect(PROT_EXEC) of a file mapping: the same rule as mmap. */
SEC("lsm/file_mprotect")
int BPF_PROG(file_mprotect, struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot)
{
	struct mark *m;
	struct file *file;

	if (!(prot & PROT_EXEC))
		return 0;
	file = BPF_CORE_READ(vma, vm_file);
	if (!file)
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	return require_any(HOOK_FILE_MPROTECT, m, BPF_CORE_READ(file, f_path.dentry), RIGHT_MMAP_EXEC | RIGHT_EXEC);
}

/* ---- mounts ---- */

/* mount(2) of any kind needs the mount right on the mount point. For
 * MS_BIND and MS_MOVE the source is still a string here (the kernel resolves
 * it after this hook), so only the target can be checked. */
SEC("lsm/sb_mount")
int BPF_PROG(sb_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags, void *data)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_SB_MOUNT, m, BPF_CORE_READ(path, dentry), RIGHT_MOUNT);
}

/* move_mount(2): the tree being attached (an open_tree clone shares the
 * source's dentries, so this is the granted object itself) and the mount
 * point both need the mount right. */
SEC("lsm/move_mount")
int BPF_PROG(move_mount, const struct path *from_path, const struct path *to_path)
{
	struct mark *m = current_mark();
	int err;

	if (!m)
		return 0;
	err = require_all(HOOK_MOVE_MOUNT, m, BPF_CORE_READ(from_path, dentry), RIGHT_MOUNT);
	if (err)
		return err;
	return require_all(HOOK_MOVE_MOUNT, m, BPF_CORE_READ(to_path, dentry), RIGHT_MOUNT);
}

SEC("lsm/sb_pivotroot")
int BPF_PROG(sb_pivotroot, const struct path *old_path, const struct path *new_path)
{
	struct mark *m = current_mark();
	int err;

	if (!m)
		return 0;
	err = require_all(HOOK_SB_PIVOTROOT, m, BPF_CORE_READ(old_path, dentry), RIGHT_MOUNT);
	if (err)
		return err;
	return require_all(HOOK_SB_PIVOTROOT, m, BPF_CORE_READ(new_path, dentry), RIGHT_MOUNT);
}

SEC("lsm/sb_umount")
int BPF_PROG(sb_umount, struct vfsmount *mnt, int flags)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_SB_UMOUNT, m, BPF_CORE_READ(mnt, mnt_root), RIGHT_MOUNT);
}

/* ---- attributes ---- */

/*
 * inode_setattr gained a leading struct mnt_idmap * in Linux 6.8:
 * (dentry, attr) before, (idmap, dentry, attr) after. Counting the arguments
 * at run time keeps one program for both; dentry and attr are always the
 * last two.
 */
SEC("lsm/inode_setattr")
int inode_setattr(unsigned long long *ctx)
{
	struct mark *m = current_mark();
	__u64 nargs, dentry_arg = 0, attr_arg = 0, need = 0;
	unsigned int valid;

	if (!m)
		return 0;
	nargs = bpf_get_func_arg_cnt(ctx);
	if (nargs < 2)
		return deny(HOOK_INODE_SETATTR, m, 0, 0, 0);
	if (bpf_get_func_arg(ctx, nargs - 2, &dentry_arg) || bpf_get_func_arg(ctx, nargs - 1, &attr_arg))
		return deny(HOOK_INODE_SETATTR, m, 0, 0, 0);
	valid = BPF_CORE_READ((struct iattr *)attr_arg, ia_valid);

	if (valid & ATTR_MODE)
		need |= RIGHT_CHMOD;
	if (valid & (ATTR_UID | ATTR_GID)) {
		/* A chown to the owner and group the inode has needs chown or
		 * chmod: its only effects are a chmod's (the set-id bits
		 * cleared, the ctime), as vfsops.Request.KeepsOwner says. */
		struct iattr *ia = (struct iattr *)attr_arg;
		struct inode *inode = BPF_CORE_READ((struct dentry *)dentry_arg, d_inode);
		int keeps = inode &&
			(!(valid & ATTR_UID) || BPF_CORE_READ(ia, ia_uid.val) == BPF_CORE_READ(inode, i_uid.val)) &&
			(!(valid & ATTR_GID) || BPF_CORE_READ(ia, ia_gid.val) == BPF_CORE_READ(inode, i_gid.val));
		if (keeps && !(rights_of(m->sandbox, (struct dentry *)dentry_arg) & RIGHT_CHOWN))
			need |= RIGHT_CHMOD;
		else
			need |= RIGHT_CHOWN;
	}
	/* A size change carries the mtime/ctime update that goes with it:
	 * that is the truncate right's business, not chtimes'. */
	if (valid & ATTR_SIZE)
		need |= RIGHT_TRUNCATE;
	else if (valid & (ATTR_ATIME | ATTR_MTIME | ATTR_ATIME_SET | ATTR_MTIME_SET | ATTR_TIMES_SET | ATTR_TOUCH))
		need |= RIGHT_CHTIMES;
	if (!need)
		return 0;
	return require_all(HOOK_INODE_SETATTR, m, (struct dentry *)dentry_arg, need);
}

/* ---- directory entries: the right is asked of the parent directory ---- */

SEC("lsm/inode_create")
int BPF_PROG(inode_create, struct inode *dir, struct dentry *dentry, umode_t mode)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_CREATE, m, BPF_CORE_READ(dentry, d_parent), RIGHT_CREATE);
}

SEC("lsm/inode_mknod")
int BPF_PROG(inode_mknod, struct inode *dir, struct dentry *dentry, umode_t mode, dev_t dev)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_MKNOD, m, BPF_CORE_READ(dentry, d_parent), RIGHT_CREATE);
}

SEC("lsm/inode_mkdir")
int BPF_PROG(inode_mkdir, struct inode *dir, struct dentry *dentry, umode_t mode)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_MKDIR, m, BPF_CORE_READ(dentry, d_parent), RIGHT_MKDIR);
}

SEC("lsm/inode_unlink")
int BPF_PROG(inode_unlink, struct inode *dir, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_UNLINK, m, BPF_CORE_READ(dentry, d_parent), RIGHT_UNLINK);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(inode_rmdir, struct inode *dir, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_RMDIR, m, BPF_CORE_READ(dentry, d_parent), RIGHT_UNLINK);
}

/* rename: what rename_need says (decide.h), on the two directories. This
 * is the path hook, which has the renameat2 flags and is called once per
 * rename, also for RENAME_EXCHANGE; the inode hook has neither, and is
 * also called for renames the kernel makes on its own account (overlayfs
 * copy-up), which are no rename of the program's. RENAME_NOREPLACE over an
 * existing name fails with EEXIST before this hook. */
SEC("lsm/path_rename")
int BPF_PROG(path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, unsigned int flags)
{
	struct mark *m = current_mark();
	__u64 need_old, need_new;
	int err;

	if (!m)
		return 0;
	rename_need(flags, BPF_CORE_READ(new_dentry, d_inode) != 0, &need_old, &need_new);
	err = require_all(HOOK_PATH_RENAME, m, BPF_CORE_READ(old_dentry, d_parent), need_old);
	if (err)
		return err;
	return require_all(HOOK_PATH_RENAME, m, BPF_CORE_READ(new_dentry, d_parent), need_new);
}

/* link: link-from on the directory the existing name is in, link-to on the
 * directory that gets the new name. */
SEC("lsm/inode_link")
int BPF_PROG(inode_link, struct dentry *old_dentry, struct inode *dir, struct dentry *new_dentry)
{
	struct mark *m = current_mark();
	int err;

	if (!m)
		return 0;
	err = require_all(HOOK_INODE_LINK, m, BPF_CORE_READ(old_dentry, d_parent), RIGHT_LINK_FROM);
	if (err)
		return err;
	return require_all(HOOK_INODE_LINK, m, BPF_CORE_READ(new_dentry, d_parent), RIGHT_LINK_TO);
}

SEC("lsm/inode_symlink")
int BPF_PROG(inode_symlink, struct inode *dir, struct dentry *dentry, const char *old_name)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_SYMLINK, m, BPF_CORE_READ(dentry, d_parent), RIGHT_SYMLINK);
}

/* ---- other processes ---- */

/*
 * ptrace_access_check guards ptrace attach and everything gated on
 * ptrace_may_access: /proc/PID/mem, /proc/PID/fd, process_vm_writev,
 * pidfd_getfd. Without it a marked process could take an fd from, or write
 * the memory of, an unconfined process of the same user and act through it.
 * A marked task may reach only tasks of its own sandbox; access to its own
 * thread group never gets here (the kernel allows it before the LSMs).
 */
/* same_sandbox reports whether task carries m's sandbox (on itself or on
 * its thread-group leader, as current_mark looks). */
static __always_inline int same_sandbox(struct mark *m, struct task_struct *task)
{
	struct mark *target = bpf_task_storage_get(&marks, task, 0, 0);

	if (!target)
		target = bpf_task_storage_get(&marks, task->group_leader, 0, 0);
	return target && target->sandbox == m->sandbox;
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(ptrace_access_check, struct task_struct *child, unsigned int mode)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	if (same_sandbox(m, child))
		return 0;
	return deny(HOOK_PTRACE_ACCESS_CHECK, m, 0, 0, 0);
}

/* ---- links and extended attributes of the object itself ---- */

/*
 * stat, statx, fstat. Objects on kernel-internal mounts (pipes, sockets,
 * anonymous inodes, memfds) have no path a grant could name and are the
 * sandbox's own plumbing: fstat of them stays allowed.
 */
SEC("lsm/inode_getattr")
int BPF_PROG(inode_getattr, const struct path *path)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	if (BPF_CORE_READ(path, mnt, mnt_flags) & MNT_INTERNAL)
		return 0;
	return require_all(HOOK_INODE_GETATTR, m, BPF_CORE_READ(path, dentry), RIGHT_STAT);
}

SEC("lsm/inode_readlink")
int BPF_PROG(inode_readlink, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_READLINK, m, dentry, RIGHT_READLINK);
}

/* The xattr hooks' first argument changed type over the years (user
 * namespace, then mnt_idmap) but the dentry stays second. */
SEC("lsm/inode_setxattr")
int BPF_PROG(inode_setxattr, void *idmap, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_SETXATTR, m, dentry, RIGHT_XATTR_SET);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(inode_removexattr, void *idmap, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_REMOVEXATTR, m, dentry, RIGHT_XATTR_SET);
}

SEC("lsm/inode_getxattr")
int BPF_PROG(inode_getxattr, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_GETXATTR, m, dentry, RIGHT_XATTR_GET);
}

SEC("lsm/inode_listxattr")
int BPF_PROG(inode_listxattr, struct dentry *dentry)
{
	struct mark *m = current_mark();

	if (!m)
		return 0;
	return require_all(HOOK_INODE_LISTXATTR, m, dentry, RIGHT_XATTR_GET);
}

/* ---- capability mode: signals and sockets ----
 *
 * These hooks confine only sandboxes in capability mode (an entry in the
 * capmode map, which capfd run sets from capmode.Policy before it marks
 * the program); they are the kernel's second layer under seccomp's socket
 * rules and Landlock's TCP ports and scopes, deciding as those do. */

/* capmode_of returns the capability-mode entry of m's sandbox, or NULL if
 * the sandbox is not in capability mode. */
static __always_inline struct capmode_val *capmode_of(struct mark *m)
{
	return bpf_map_lookup_elem(&capmode, &m->sandbox);
}

/*
 * task_kill: every signal a task sends with its own authority (kill,
 * tgkill, tkill, rt_sigqueueinfo, pidfd_send_signal, signal 0 included;
 * also to its own threads, which share its mark) reaches this hook; the
 * kernel's own signals (SIGCHLD to the parent, a parent-death signal sent
 * by an unmarked parent) do not come from the marked task's authority.
 * cred is set only for USB's asynchronous I/O signals, sent on behalf of
 * the opener from any context: not the current task's. SIGIO and SIGURG
 * through F_SETOWN take another hook (file_send_sigiotask) in the context
 * of whoever causes the I/O: not decided here (Landlock's signal scope
 * covers them from Linux 6.12).
 */
SEC("lsm/task_kill")
int BPF_PROG(task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig, const struct cred *cred)
{
	struct mark *m;
	struct capmode_val *cm;
	struct denial *e;
	__u64 cred_arg = 0;

	/* Read as a number: the verifier takes a pointer argument for
	 * non-NULL and would drop a test of cred itself as dead code. */
	if (bpf_get_func_arg(ctx, 3, &cred_arg) || cred_arg)
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	cm = capmode_of(m);
	if (!cm)
		return 0;
	if (signal_allowed(cm->flags, same_sandbox(m, p)))
		return 0;
	e = reserve_denial(HOOK_TASK_KILL, m);
	if (e) {
		e->target = BPF_CORE_READ(p, tgid);
		e->sig = sig;
		bpf_ringbuf_submit(e, 0);
	}
	return -EPERM;
}

/*
 * check_address decides a connect or bind (op) of sock to address (addrlen
 * bytes, a kernel copy that the task can no longer change) for a marked
 * task in capability mode: net_addr_kind and net_allowed (decide.h), the
 * port looked up in the sandbox's ports. Refusals fail with EACCES, as
 * Landlock's and capmode's seccomp refusals of a network operation do.
 */
static __always_inline int is_tcp_socket(struct socket *sock)
{
	return BPF_CORE_READ(sock, type) == SOCK_STREAM && BPF_CORE_READ(sock, sk, sk_protocol) == IPPROTO_TCP;
}

static __always_inline int check_address(enum hook hook, int op, struct mark *m, struct capmode_val *cm,
					 struct socket *sock, void *address, int addrlen)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	int family = BPF_CORE_READ(sk, __sk_common.skc_family);
	int is_tcp = is_tcp_socket(sock);
	__u16 addr_family = 0, port = 0;
	__u8 sun_path0 = 0;
	struct port_key key = {};
	struct denial *e;
	int kind, granted = 0;

	if (address && addrlen >= 2)
		bpf_probe_read_kernel(&addr_family, sizeof(addr_family), address);
	if (address && addrlen > DECIDE_SUN_PATH_OFFSET)
		bpf_probe_read_kernel(&sun_path0, sizeof(sun_path0), (char *)address + DECIDE_SUN_PATH_OFFSET);
	kind = net_addr_kind(op, family, is_tcp, addr_family, address ? addrlen : 0, sun_path0);
	if (kind == NET_ADDR_TCP_PORT) {
		bpf_probe_read_kernel(&port, sizeof(port), (char *)address + 2);
		port = bpf_ntohs(port);
		key.sandbox = m->sandbox;
		key.port = port;
		key.op = op;
		granted = bpf_map_lookup_elem(&ports, &key) != 0;
	}
	if (net_allowed(cm->flags, kind, granted))
		return 0;
	e = reserve_denial(hook, m);
	if (e) {
		e->family = family;
		e->port = port;
		bpf_ringbuf_submit(e, 0);
	}
	return -EACCES;
}

SEC("lsm/socket_connect")
int BPF_PROG(socket_connect, struct socket *sock, struct sockaddr *address, int addrlen)
{
	struct mark *m = current_mark();
	struct capmode_val *cm;

	if (!m)
		return 0;
	cm = capmode_of(m);
	if (!cm)
		return 0;
	return check_address(HOOK_SOCKET_CONNECT, NET_CONNECT, m, cm, sock, address, addrlen);
}

SEC("lsm/socket_bind")
int BPF_PROG(socket_bind, struct socket *sock, struct sockaddr *address, int addrlen)
{
	struct mark *m = current_mark();
	struct capmode_val *cm;

	if (!m)
		return 0;
	cm = capmode_of(m);
	if (!cm)
		return 0;
	return check_address(HOOK_SOCKET_BIND, NET_BIND, m, cm, sock, address, addrlen);
}

/*
 * A TCP fast-open send (sendto or sendmsg with MSG_FASTOPEN) connects the
 * socket inside the send, past socket_connect: it is decided as a connect
 * to the send's address. Other sends are not decided: an inherited socket
 * is used with the kernel's own checks, and capability mode's sockets
 * reach nothing new in a send (seccomp refuses Unix datagram and UDP
 * sockets without the whole network).
 */
SEC("lsm/socket_sendmsg")
int BPF_PROG(socket_sendmsg, struct socket *sock, struct msghdr *msg, int size)
{
	struct mark *m;
	struct capmode_val *cm;

	if (!(BPF_CORE_READ(msg, msg_flags) & MSG_FASTOPEN) || !is_tcp_socket(sock))
		return 0;
	m = current_mark();
	if (!m)
		return 0;
	cm = capmode_of(m);
	if (!cm)
		return 0;
	return check_address(HOOK_SOCKET_SENDMSG, NET_CONNECT, m, cm, sock,
			     BPF_CORE_READ(msg, msg_name), BPF_CORE_READ(msg, msg_namelen));
}
