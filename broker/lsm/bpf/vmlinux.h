/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * A trimmed vmlinux.h: only the kernel types capfd's LSM programs touch.
 *
 * Every struct is a subset of the one `bpftool btf dump file
 * /sys/kernel/btf/vmlinux format c` prints (taken from Linux 6.18 and checked
 * against 6.1 and 6.12). preserve_access_index makes clang record each field
 * access as a CO-RE relocation, so the loader rewrites offsets to the running
 * kernel's layout: these declarations say which fields exist, never where.
 * Add a field here before using it, with its kernel type.
 */
#ifndef CAPFD_VMLINUX_H
#define CAPFD_VMLINUX_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

typedef u32 dev_t;
typedef short unsigned int umode_t;
typedef unsigned int fmode_t;

/* From include/uapi/linux/bpf.h: the map types and flags used here. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};

enum {
	BPF_ANY = 0,
	BPF_F_NO_PREALLOC = 1,
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};

struct super_block {
	dev_t s_dev;
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} kuid_t;

typedef struct {
	__u32 val;
} kgid_t;

struct inode {
	umode_t i_mode;
	kuid_t i_uid;
	kgid_t i_gid;
	long unsigned int i_ino;
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct inode *d_inode;
	struct super_block *d_sb;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
	int mnt_flags;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	fmode_t f_mode;
} __attribute__((preserve_access_index));

/* ia_uid and ia_gid sit in anonymous unions (with ia_vfsuid, ia_vfsgid)
 * since Linux 6.0; CO-RE finds them there by name. */
struct iattr {
	unsigned int ia_valid;
	kuid_t ia_uid;
	kgid_t ia_gid;
} __attribute__((preserve_access_index));

struct linux_binprm {
	struct file *file;
} __attribute__((preserve_access_index));

struct vm_area_struct {
	struct file *vm_file;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct task_struct *group_leader;
} __attribute__((preserve_access_index));

/* Capability mode: sockets, addresses, sends, signals. */
typedef __u16 sa_family_t;

struct sockaddr {
	sa_family_t sa_family;
} __attribute__((preserve_access_index));

struct sock_common {
	unsigned short skc_family;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	u16 sk_protocol;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct msghdr {
	void *msg_name;
	int msg_namelen;
	unsigned int msg_flags;
} __attribute__((preserve_access_index));

struct kernel_siginfo;
struct cred;

#endif /* CAPFD_VMLINUX_H */
