//go:build linux

package lsm

import "strconv"

// hookNames names the hooks of enum hook in bpf/capfd.bpf.c, by value. They
// are the LSM hook names, which is also what Counts and Denial.Hook report.
var hookNames = [...]string{
	capfdHookHOOK_FILE_OPEN:           "file_open",
	capfdHookHOOK_FILE_TRUNCATE:       "file_truncate",
	capfdHookHOOK_PATH_TRUNCATE:       "path_truncate",
	capfdHookHOOK_FILE_FCNTL:          "file_fcntl",
	capfdHookHOOK_SB_MOUNT:            "sb_mount",
	capfdHookHOOK_MOVE_MOUNT:          "move_mount",
	capfdHookHOOK_SB_PIVOTROOT:        "sb_pivotroot",
	capfdHookHOOK_SB_UMOUNT:           "sb_umount",
	capfdHookHOOK_BPRM_CHECK_SECURITY: "bprm_check_security",
	capfdHookHOOK_MMAP_FILE:           "mmap_file",
	capfdHookHOOK_FILE_MPROTECT:       "file_mprotect",
	capfdHookHOOK_INODE_SETATTR:       "inode_setattr",
	capfdHookHOOK_INODE_CREATE:        "inode_create",
	capfdHookHOOK_INODE_MKNOD:         "inode_mknod",
	capfdHookHOOK_INODE_MKDIR:         "inode_mkdir",
	capfdHookHOOK_INODE_UNLINK:        "inode_unlink",
	capfdHookHOOK_INODE_RMDIR:         "inode_rmdir",
	capfdHookHOOK_PATH_RENAME:         "path_rename",
	capfdHookHOOK_INODE_LINK:          "inode_link",
	capfdHookHOOK_INODE_SYMLINK:       "inode_symlink",
	capfdHookHOOK_INODE_READLINK:      "inode_readlink",
	capfdHookHOOK_INODE_SETXATTR:      "inode_setxattr",
	capfdHookHOOK_INODE_REMOVEXATTR:   "inode_removexattr",
	capfdHookHOOK_INODE_GETXATTR:      "inode_getxattr",
	capfdHookHOOK_INODE_LISTXATTR:     "inode_listxattr",
	capfdHookHOOK_PTRACE_ACCESS_CHECK: "ptrace_access_check",
	capfdHookHOOK_INODE_GETATTR:       "inode_getattr",
	capfdHookHOOK_FILE_IOCTL:          "file_ioctl",
	capfdHookHOOK_INODE_FILE_SETATTR:  "inode_file_setattr",
	capfdHookHOOK_INODE_FILE_GETATTR:  "inode_file_getattr",
	capfdHookHOOK_TASK_KILL:           "task_kill",
	capfdHookHOOK_SOCKET_CONNECT:      "socket_connect",
	capfdHookHOOK_SOCKET_BIND:         "socket_bind",
	capfdHookHOOK_SOCKET_SENDMSG:      "socket_sendmsg",
}

// Counter names beyond the hooks, as reported by Counts.
const (
	// CounterRingbufFull counts denials that were enforced but not
	// reported because the kernel ring buffer was full.
	CounterRingbufFull = "ringbuf_full"
	// CounterQueueFull counts denials read from the ring buffer but
	// dropped because nobody drained the Denials channel.
	CounterQueueFull = "queue_full"
)

// essentialHooks must attach for the enforcer to mean anything: without
// task_alloc a marked process's children escape, without file_open every
// open is allowed. Any other hook missing from a kernel is skipped and
// reported; Load refuses to run without these.
var essentialHooks = map[string]bool{
	"task_alloc": true,
	"file_open":  true,
}

// hookName returns the name of hook h, or a placeholder naming the number
// for a value this build does not know (a newer BPF object, a corrupt record).
func hookName(h capfdHook) string {
	if int(h) < len(hookNames) && hookNames[h] != "" {
		return hookNames[h]
	}
	return "hook(" + strconv.FormatUint(uint64(h), 10) + ")"
}
