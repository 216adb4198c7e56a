package seccomp

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/seccomp/internal/ia32"
	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/internal/vmtest"
	"github.com/capfd/capfd/rights"
)

// Filters are irreversible, so every Install test runs in a re-exec of the
// test binary: the child named by this variable runs one scenario, prints a
// JSON report on stdout and exits; the test process itself is never filtered.
const childEnv = "CAPFD_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	childtest.Main(m, childEnv, func(name string) report {
		scenario, ok := scenarios[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown scenario %q\n", name)
			os.Exit(2)
		}
		return scenario(os.Getenv("CAPFD_SECCOMP_TEST_DIR"))
	})
}

// report is what a child saw: each observation is "ok" or an errno name.
type report = childtest.Report

var outcome = childtest.Outcome

var scenarios = map[string]func(dir string) report{
	"deny":   denyScenario,
	"notify": notifyScenario,
	"x32":    x32Scenario,
	"i386":   i386Scenario,
}

// runChild runs scenario in a fresh test binary and decodes its report. A
// child killed by a signal returns that signal and a nil report.
func runChild(t *testing.T, scenario, dir string) (report, syscall.Signal) {
	t.Helper()
	return childtest.Run(t, childEnv+"="+scenario, "CAPFD_SECCOMP_TEST_DIR="+dir)
}

func countFds() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// denyScenario changes a file's mode and clones a mount before and after
// installing RulesFor(rw without chmod): both work before, both are refused
// after, and the refusal holds on another OS thread too (TSYNC).
func denyScenario(dir string) report {
	r := report{}
	file := filepath.Join(dir, "f")
	attempt := func(prefix string) {
		r[prefix+"chmod"] = outcome(unix.Fchmodat(unix.AT_FDCWD, file, 0o600, 0))
		fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err == nil {
			unix.Close(fd)
		}
		r[prefix+"open_tree"] = outcome(err)
	}
	attempt("before.")

	// A thread that exists before Install and is not the installing one:
	// only TSYNC puts the filter on it.
	otherThread := make(chan func(), 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for f := range otherThread {
			f()
			done <- struct{}{}
		}
	}()

	fdsBefore := countFds()
	fd, err := Filter{Default: Allow, Rules: RulesFor(rights.ReadWrite.Without(rights.Chmod))}.Install()
	r["install"] = outcome(err)
	r["listener"] = fmt.Sprint(fd)
	r["fd_delta"] = fmt.Sprint(countFds() - fdsBefore)

	attempt("after.")
	otherThread <- func() {
		r["thread.chmod"] = outcome(unix.Fchmodat(unix.AT_FDCWD, file, 0o644, 0))
	}
	<-done
	close(otherThread)
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err == nil {
		r["mode"] = fmt.Sprintf("%o", st.Mode&0o777)
	}
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	r["no_new_privs"] = fmt.Sprint(nnp)
	return r
}

func TestInstallDenies(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, sig := runChild(t, "deny", dir)
	if sig != 0 {
		t.Fatalf("child killed by %v", sig)
	}
	want := report{
		"before.chmod": "ok", "before.open_tree": "ok",
		"install": "ok", "listener": "-1", "fd_delta": "0", "no_new_privs": "1",
		"after.chmod": "EPERM", "after.open_tree": "EPERM", "thread.chmod": "EPERM",
		"mode": "600", // set before Install, never changed back after
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s: got %q, want %q", k, r[k], v)
		}
	}
}

// seccompNotif and seccompNotifResp mirror struct seccomp_notif and
// seccomp_notif_resp (include/uapi/linux/seccomp.h); x/sys/unix lacks them.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  struct {
		Nr                 int32
		Arch               uint32
		InstructionPointer uint64
		Args               [6]uint64
	}
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifyScenario forwards getcwd to a supervisor goroutine of the same
// process, which answers ENOTBLK, an errno getcwd never returns by itself.
func notifyScenario(string) report {
	r := report{}
	buf := make([]byte, 4096)
	_, err := unix.Getcwd(buf)
	r["before"] = outcome(err)

	fd, err := Filter{Default: Allow, Rules: []Rule{{Syscalls: []string{"getcwd"}, Action: Notify}}}.Install()
	r["install"] = outcome(err)
	if err != nil {
		return r
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	r["cloexec"] = fmt.Sprint(err == nil && flags&unix.FD_CLOEXEC != 0)

	supervised := make(chan string)
	callerTID := make(chan int, 1)
	go func() {
		var req seccompNotif
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); errno != 0 {
			supervised <- "recv: " + errno.Error()
			return
		}
		resp := seccompNotifResp{ID: req.ID, Error: -int32(unix.ENOTBLK)}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); errno != 0 {
			supervised <- "send: " + errno.Error()
			return
		}
		supervised <- fmt.Sprintf("nr=%d pid-matches=%v", req.Data.Nr, int(req.Pid) == <-callerTID)
	}()
	// The notification names the calling thread (its TID), which is the
	// process's PID only on the main thread: pin the call to one thread and
	// compare with that thread's id.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	callerTID <- unix.Gettid()
	_, err = unix.Getcwd(buf)
	r["after"] = outcome(err)
	r["supervisor"] = <-supervised
	r["expected_supervisor"] = fmt.Sprintf("nr=%d pid-matches=true", unix.SYS_GETCWD)
	return r
}

func TestInstallNotify(t *testing.T) {
	r, sig := runChild(t, "notify", t.TempDir())
	if sig != 0 {
		t.Fatalf("child killed by %v", sig)
	}
	want := report{"before": "ok", "install": "ok", "cloexec": "true", "after": "ENOTBLK"}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s: got %q, want %q", k, r[k], v)
		}
	}
	if r["supervisor"] != r["expected_supervisor"] {
		t.Errorf("supervisor saw %q, want %q", r["supervisor"], r["expected_supervisor"])
	}
}

// x32Scenario makes a getpid call through the x32 ABI, which shares the
// native audit arch. Unfiltered, the kernel answers it (ENOSYS when x32 is
// compiled out); filtered, the process must die.
func x32Scenario(dir string) report {
	r := report{}
	if dir == "confined" {
		if _, err := (Filter{Default: Allow}).Install(); err != nil {
			r["install"] = outcome(err)
			return r
		}
	}
	_, _, errno := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
	r["x32"] = outcome(errnoOrNil(errno))
	return r
}

func errnoOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func TestInstallKillsForeignABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("x32 ABI exists on amd64 only")
	}
	r, sig := runChild(t, "x32", "unconfined")
	if sig != 0 || r["x32"] == "" {
		t.Fatalf("unconfined x32 call: report %v, signal %v; want the call to return", r, sig)
	}
	r, sig = runChild(t, "x32", "confined")
	if sig != syscall.SIGSYS {
		t.Fatalf("confined x32 call: report %v, signal %v; want death by SIGSYS", r, sig)
	}
}

// i386Scenario calls getpid through int 0x80: the i386 entry, audit arch
// AUDIT_ARCH_I386, where 20 is getpid but in x86-64 numbering 20 is writev.
// Unfiltered it returns the pid; filtered, the process must die.
func i386Scenario(dir string) (r report) {
	r = report{}
	if dir == "confined" {
		if _, err := (Filter{Default: Allow}).Install(); err != nil {
			r["install"] = outcome(err)
			return r
		}
	}
	// Without IA32 emulation int 0x80 is a general protection fault, which
	// the Go runtime would turn into a crash: recover it and say so.
	debug.SetPanicOnFault(true)
	defer func() {
		if recover() != nil {
			r["fault"] = "true"
		}
	}()
	r["pid_matches"] = fmt.Sprint(int(ia32.Getpid()) == os.Getpid())
	return r
}

func TestInstallKillsI386Entry(t *testing.T) {
	if !ia32.Supported {
		t.Skip("i386 syscall entry (int 0x80) exists on amd64 only")
	}
	r, sig := runChild(t, "i386", "unconfined")
	if r["fault"] == "true" {
		if vmtest.InVM() {
			t.Fatal("int 0x80 faults in a vmtest guest, whose Debian kernels have IA32 emulation")
		}
		t.Skip("IA32 emulation missing: int 0x80 faults (CONFIG_IA32_EMULATION off or ia32_emulation=0)")
	}
	if sig != 0 || r["pid_matches"] != "true" {
		t.Fatalf("unconfined int 0x80 getpid: report %v, signal %v; want the pid", r, sig)
	}
	r, sig = runChild(t, "i386", "confined")
	if sig != syscall.SIGSYS {
		t.Fatalf("confined int 0x80 getpid: report %v, signal %v; want death by SIGSYS", r, sig)
	}
}

func TestProbe(t *testing.T) {
	// The host this project targets has seccomp user notification (see
	// /proc/sys/kernel/seccomp/actions_avail); Probe must agree with the
	// kernel's own list.
	avail, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if err != nil {
		t.Skipf("seccomp filter support missing: %v", err)
	}
	err = Probe()
	hasNotif := false
	for _, a := range strings.Fields(string(avail)) {
		hasNotif = hasNotif || a == "user_notif"
	}
	if hasNotif && err != nil {
		t.Fatalf("kernel lists user_notif but Probe says %v", err)
	}
	if !hasNotif && err == nil {
		t.Fatalf("kernel lacks user_notif but Probe says nil")
	}
}
