package notify

// The seccomp filter of `capfd run` is an allow-list. Every syscall of the
// architecture's table is classified here, in Syscalls (notified),
// Refused (EPERM), seccomp.DenyMountFamily (EPERM), or one of the groups
// below; anything else, including every syscall added to Linux after this
// table was written, fails with ENOSYS, the answer of a kernel that lacks
// it, so libcs fall back to the older call they know. (Before, the default
// was Allow, and file_setattr, Linux 6.17, changed the attributes of any
// file outside every grant.) TestEverySyscallClassified keeps the groups
// and the table in step; TestKernelSyscallsBeyondTable probes the running
// kernel for numbers beyond it.

// syscallGroup is a set of syscalls that share one reason for their fate.
type syscallGroup struct {
	why   string
	names []string
}

// nativeSyscalls run in the kernel: they name no path, or only act on what
// the program already holds (its descriptors, memory, threads, children).
// Where a group still reaches beyond the granted files (signals, sockets,
// IPC), that is ambient authority outside the file tree, not a path
// escape, and is said so.
//
// ioctl, fcntl, fallocate, pwritev2 and mmap run natively except for the
// argument values fdRules (filter_fd_linux.go) notifies or refuses: the
// requests and modes whose answer depends on the object's rights.
var nativeSyscalls = []syscallGroup{
	{"act on descriptors the program holds; what a descriptor may do was decided when it was opened (fchmod, fchown, ftruncate, fsetxattr, fremovexattr are notified: decided per object)",
		[]string{"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
			"lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "ioctl", "fstat", "fstatfs",
			"getdents", "getdents64", "fsync", "fdatasync", "sync_file_range", "syncfs", "fadvise64", "readahead",
			"fallocate", "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "fchdir", "cachestat",
			"mmap", "flock", "fgetxattr", "flistxattr"}},
	{"descriptors of kinds that hold no file: pipes, events, timers, signals, epoll, inotify (its watch is refused), anonymous memory",
		[]string{"pipe", "pipe2", "eventfd", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
			"signalfd", "signalfd4", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
			"poll", "ppoll", "select", "pselect6", "inotify_init", "inotify_init1", "inotify_rm_watch",
			"memfd_create", "memfd_secret", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents"}},
	{"the program's own memory",
		[]string{"brk", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2", "munlock",
			"mlockall", "munlockall", "remap_file_pages", "mseal", "pkey_alloc", "pkey_free", "pkey_mprotect",
			"mbind", "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages",
			"membarrier", "map_shadow_stack", "modify_ldt", "arch_prctl", "set_thread_area", "get_thread_area"}},
	{"the program's own threads, processes and scheduling; the kernel checks permission on other processes",
		[]string{"clone", "clone3", "fork", "vfork", "exit", "exit_group", "wait4", "waitid", "set_tid_address",
			"set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
			"sched_yield", "sched_setaffinity", "sched_getaffinity", "sched_setparam", "sched_getparam",
			"sched_setscheduler", "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
			"sched_rr_get_interval", "sched_setattr", "sched_getattr", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
			"getcpu", "prctl", "personality", "prlimit64", "getrlimit", "setrlimit", "getrusage", "times",
			"kcmp", "process_madvise", "process_mrelease", "pidfd_open", "restart_syscall", "uretprobe"}},
	{"execve is judged by Landlock's exec right against the file actually reached (no string to race)",
		[]string{"execve", "execveat"}},
	{"signals; processes outside the sandbox are out of reach: the PID namespace does not name them, Landlock's signal scope (ABI 6) refuses them (capmode)",
		[]string{"kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal",
			"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
			"sigaltstack", "pause", "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
			"timer_getoverrun", "timer_delete"}},
	{"credentials and identity of the program itself; the kernel checks the capabilities each needs",
		[]string{"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
			"getgroups", "getpgid", "getpgrp", "getsid", "setsid", "setpgid", "setuid", "setgid", "setreuid", "setregid",
			"setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capget", "capset", "umask", "getcwd"}},
	{"clocks and system information; setting needs capabilities the program lacks by default",
		[]string{"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
			"clock_settime", "settimeofday", "adjtimex", "clock_adjtime", "uname", "sysinfo", "getrandom",
			"sethostname", "setdomainname", "vhangup", "sync"}},
	{"sockets; which may be created is decided first, by domain and type (capmode.Rules), TCP ports by Landlock",
		[]string{"socket", "socketpair", "listen", "accept", "accept4", "getsockname", "getpeername",
			"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt"}},
	{"unshare of what the process already has (files, fs); with a namespace flag refused (capmode.Rules)",
		[]string{"unshare"}},
	{"self-confinement only narrows what the program can do",
		[]string{"seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
			"lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules"}},
}

// deniedSyscalls fail with EPERM: they reach the kernel or other programs
// in ways no grant can express, and confined programs have no business
// with them.
var deniedSyscalls = []syscallGroup{
	{"load code into or replace the kernel, or drive hardware directly",
		[]string{"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
			"iopl", "ioperm", "bpf", "perf_event_open"}},
	{"watch or read beyond the sandbox: the whole file system, the kernel log, quotas",
		[]string{"fanotify_init", "syslog", "quotactl_fd"}},
	{"userfaultfd stalls the kernel on the program's page faults, a race-widening primitive with no use here",
		[]string{"userfaultfd"}},
	{"capability mode: System V IPC and POSIX message queues are global namespaces reached by key or name, which no grant can name",
		[]string{"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
			"msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
			"mq_notify", "mq_getsetattr"}},
	{"capability mode: keyrings are shared with every process of the user (the user and session keyrings)",
		[]string{"add_key", "request_key", "keyctl"}},
	{"capability mode: joining a namespace re-grants what it holds",
		[]string{"setns"}},
}

// obsoleteSyscalls fail with ENOSYS like anything unclassified, listed so
// the classification is complete: removed from Linux, never implemented,
// or superseded by a classified call; and statmount/listmount, which read
// the mount table by id (beyond the sandbox), where ENOSYS makes libmount
// fall back to /proc/self/mountinfo, which cannot be granted.
var obsoleteSyscalls = syscallGroup{"removed, unimplemented or superseded; the mount table",
	[]string{"_sysctl", "afs_syscall", "create_module", "get_kernel_syms", "query_module", "nfsservctl",
		"getpmsg", "putpmsg", "tuxcall", "security", "vserver", "lookup_dcookie", "epoll_ctl_old",
		"epoll_wait_old", "ustat", "sysfs", "statmount", "listmount"}}

// beyondTable are syscalls the running kernels have that the seccomp
// library's table (Linux 6.15) does not name: the filter cannot name them
// either, so they get the default, ENOSYS. Each is path-taking or otherwise
// unserved, and ENOSYS is its right answer.
var beyondTable = map[int]string{
	468: "file_getattr", // Linux 6.17: a path's inode attributes; not served
	469: "file_setattr", // Linux 6.17: changes them; not served
}

func groupNames(groups []syscallGroup) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.names...)
	}
	return out
}
