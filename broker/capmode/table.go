package capmode

import (
	"fmt"
	"strings"
)

// Authority is one kind of ambient authority that capability mode takes
// from a program: what FreeBSD's cap_enter(2) does about it, how `capfd
// run` refuses it, and the flag that gives it back. docs/capability-mode.md
// shows this table (TestDocTable keeps the two the same), and `capfd check`
// reports each row's enforcement on the running kernel (Enforcement).
type Authority struct {
	Name      string
	Capsicum  string
	Mechanism string
	GiveBack  string // "" for never
}

// Authorities is the table, in the order the docs show it.
var Authorities = []Authority{
	{"file system paths", "global namespace closed; *at() beneath directory capabilities",
		"the supervisor (every path syscall), Landlock, the BPF LSM", "--grant PATH=RIGHTS"},
	{"TCP addresses", "bind(2), connect(2) to addresses refused; inherited sockets work",
		"seccomp: TCP sockets only when a port is granted; Landlock decides the port (ABI 4)", "--connect tcp:PORT, --bind tcp:PORT, --allow-net"},
	{"UDP, raw, netlink and other sockets", "sendto(2) to an address refused",
		"seccomp refuses the socket (NETLINK_ROUTE with a TCP grant, for libc)", "--allow-net"},
	{"pathname Unix sockets", "connectat(2), bindat(2) beneath a directory with CAP_CONNECTAT, CAP_BINDAT",
		"the supervisor connects (binds) the program's socket to the file reached beneath a grant: connect right (create for bind)", "--grant PATH=lookup,connect"},
	{"Unix datagram sockets", "sendto(2) to an address refused",
		"seccomp refuses AF_UNIX SOCK_DGRAM sockets (each send may name any socket)", "--allow-net"},
	{"abstract Unix sockets", "none in FreeBSD",
		"the supervisor refuses abstract names; Landlock's abstract-socket scope (ABI 6)", "--allow-abstract"},
	{"signals to other processes", "kill(2) of other processes refused; pdkill(2) on process descriptors",
		"PID namespace (outside processes have no number); Landlock's signal scope (ABI 6)", "--allow-signal"},
	{"System V IPC and POSIX message queues", "refused",
		"seccomp (EPERM)", ""},
	{"keyrings", "none in FreeBSD",
		"seccomp refuses add_key, request_key, keyctl (EPERM)", ""},
	{"namespaces", "jail(2), chroot(2) refused",
		"seccomp: clone, unshare with a namespace flag and setns (EPERM), clone3 (ENOSYS)", ""},
	{"mounts", "refused",
		"seccomp refuses the mount family (EPERM)", ""},
	{"kernel and hardware", "kldload(2), reboot(2) and the like refused",
		"seccomp refuses modules, kexec, reboot, bpf, perf_event_open, iopl, ioperm (EPERM)", ""},
	{"other processes' memory and descriptors", "ptrace(2) refused",
		"seccomp: ptrace, process_vm_readv/writev, pidfd_getfd (EPERM); Landlock scopes ptrace", ""},
	{"the terminal", "none in FreeBSD",
		"a session of its own and, where its streams are the caller's terminal, a terminal of its own (a pty relay); TIOCSTI and TIOCLINUX refused (EPERM)", "--same-session (injection stays refused)"},
	{"the environment", "none in FreeBSD",
		"cleared to " + strings.Join(KeptEnv, " "), "--env NAME[=VALUE], --keep-env"},
	{"privilege", "none in FreeBSD (capabilities are Linux's)",
		"every capability(7) dropped", "--keep-caps"},
}

// Kernel is what Enforcement needs to know of the running kernel.
type Kernel struct {
	LandlockABI int // 0 without Landlock
	Seccomp     bool
	BPFLSM      bool
}

// Status is one Authority's enforcement on a kernel.
type Status struct {
	Authority string `json:"authority"`
	Enforced  bool   `json:"enforced"`
	How       string `json:"how"`
}

// Enforcement says, for each Authority, whether capability mode holds it
// on kernel k and how. What a kernel cannot enforce is said, never left
// out: without seccomp nothing beyond files holds (and capfd run does not
// start); per-port TCP grants need Landlock ABI 4 (capfd run refuses them
// without); signals rely on the PID namespace where Landlock lacks the
// signal scope.
func Enforcement(k Kernel) []Status {
	out := make([]Status, 0, len(Authorities))
	for _, a := range Authorities {
		s := Status{Authority: a.Name, Enforced: k.Seccomp, How: a.Mechanism}
		switch a.Name {
		case "file system paths":
			s.How = "the supervisor"
			if k.LandlockABI > 0 {
				s.How += fmt.Sprintf(", Landlock ABI %d", k.LandlockABI)
			}
			if k.BPFLSM {
				s.How += ", the BPF LSM"
			}
		case "TCP addresses":
			if k.LandlockABI < 4 {
				s.How = "seccomp refuses TCP sockets; --connect and --bind are refused here (per-port rules need Landlock ABI 4, Linux 6.7)"
			}
		case "abstract Unix sockets":
			s.How = "the supervisor refuses abstract names"
			if k.LandlockABI >= 6 {
				s.How += "; Landlock's abstract-socket scope"
			}
		case "signals to other processes":
			s.How = "PID namespace; Landlock's signal scope"
			if k.LandlockABI < 6 {
				s.How = "PID namespace only (Landlock's signal scope needs ABI 6, Linux 6.12): where no namespace can be made, signals to outside processes are NOT refused, and capfd run warns"
			}
		}
		if !k.Seccomp {
			s.How = "not enforced: no seccomp user notification, capfd run cannot start"
		}
		out = append(out, s)
	}
	return out
}
