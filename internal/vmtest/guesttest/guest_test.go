package guesttest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/capfd/capfd/internal/vmtest"
)

// Flags set by the host-side test in tests/vm.
var (
	token     = flag.String("guesttest.token", "", "echoed as \"guesttest token=VALUE\", proving arguments reach the guest")
	extraFile = flag.String("guesttest.extra", "", "guest path of a file whose content must equal -guesttest.token")
	exitCode  = flag.Int("guesttest.exit", 0, "exit with this code after the tests, proving exit codes reach the host")
	powerOff  = flag.Bool("guesttest.poweroff", false, "power the VM off before any test, as a crashing guest would end, proving the host reports a missing exit status")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if *powerOff && vmtest.InVM() {
		syscall.Sync()
		if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
			fmt.Fprintf(os.Stderr, "power off: %v\n", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if *exitCode != 0 {
		os.Exit(*exitCode)
	}
	os.Exit(code)
}

func TestLSMListHasKernelLSMs(t *testing.T) {
	vmtest.RequireVM(t)
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		t.Fatal(err)
	}
	active := strings.Split(strings.TrimSpace(string(b)), ",")
	for _, lsm := range strings.Split(vmtest.KernelLSMs, ",") {
		if !slices.Contains(active, lsm) {
			t.Errorf("LSM %q not active; /sys/kernel/security/lsm = %q", lsm, b)
		}
	}
}

func TestKernelBTF(t *testing.T) {
	vmtest.RequireVM(t)
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("kernel BTF: %v", err)
	}
	var task *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err != nil {
		t.Fatalf("task_struct in kernel BTF: %v", err)
	}
}

func TestMounts(t *testing.T) {
	vmtest.RequireVM(t)
	// Magic numbers from include/uapi/linux/magic.h.
	tests := []struct {
		path  string
		magic int64
	}{
		{"/proc", 0x9fa0},
		{"/sys", 0x62656572},
		{"/dev", 0x01021994},                 // devtmpfs is a tmpfs
		{"/tmp", 0x01021994},                 //
		{"/sys/kernel/security", 0x73636673}, // securityfs
		{"/sys/fs/bpf", 0xcafe4a11},
		{"/sys/fs/cgroup", 0x63677270}, // cgroup2
	}
	for _, tt := range tests {
		var st syscall.Statfs_t
		if err := syscall.Statfs(tt.path, &st); err != nil {
			t.Errorf("statfs %s: %v", tt.path, err)
			continue
		}
		if st.Type != tt.magic {
			t.Errorf("%s: filesystem magic %#x, want %#x", tt.path, st.Type, tt.magic)
		}
	}
}

func TestLoopbackUp(t *testing.T) {
	vmtest.RequireVM(t)
	b, err := os.ReadFile("/sys/class/net/lo/operstate")
	if err != nil {
		t.Fatal(err)
	}
	// lo reports "unknown" when up (it has no carrier state) and "down" otherwise.
	if state := strings.TrimSpace(string(b)); state == "down" {
		t.Errorf("lo is %s", state)
	}
}

func TestHostInputs(t *testing.T) {
	vmtest.RequireVM(t)
	if *token == "" {
		t.Skip("no -guesttest.token given: this run does not check arguments")
	}
	t.Logf("guesttest token=%s", *token)
	// Options.Env reaches the test binary's environment; the host checks
	// this line, as an unset variable is legitimate in other runs.
	t.Logf("guesttest env=%s", os.Getenv("GUESTTEST_TOKEN"))
	if *extraFile != "" {
		b, err := os.ReadFile(*extraFile)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != *token {
			t.Errorf("%s holds %q, want %q", *extraFile, b, *token)
		}
	}
}

// TestTestdata checks that the package's testdata directory is in the guest
// and the test binary runs from the package directory, as under go test.
func TestTestdata(t *testing.T) {
	b, err := os.ReadFile("testdata/hello.txt")
	if err != nil {
		wd, _ := os.Getwd()
		t.Fatalf("in %s: %v", wd, err)
	}
	if string(b) != "hello from the host\n" {
		t.Errorf("testdata/hello.txt = %q", b)
	}
}

// hasLSMHook reports whether the kernel offers BPF LSM hook name, by looking
// for its bpf_lsm_<name> attach point in kernel BTF: hooks are added over
// kernel versions (file_truncate arrived in 6.2).
func hasLSMHook(spec *btf.Spec, name string) (bool, error) {
	var fn *btf.Func
	err := spec.TypeByName("bpf_lsm_"+name, &fn)
	if errors.Is(err, btf.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var uts syscall.Utsname
	if err := syscall.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	var release []byte
	for _, c := range uts.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	var maj, min int
	for i, part := range strings.SplitN(string(release), ".", 3)[:2] {
		n := 0
		for _, c := range part {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		if i == 0 {
			maj = n
		} else {
			min = n
		}
	}
	t.Logf("kernel %s", release)
	return maj > major || maj == major && min >= minor
}

// TestLSMHookProbe runs on the host too: it needs only kernel BTF.
func TestLSMHookProbe(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skipf("kernel BTF (/sys/kernel/btf/vmlinux) missing: %v", err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hook string
		want bool
	}{
		{"file_open", true},
		{"file_truncate", kernelAtLeast(t, 6, 2)},
		{"no_such_hook_in_any_kernel", false},
	}
	for _, tt := range tests {
		got, err := hasLSMHook(spec, tt.hook)
		if err != nil {
			t.Fatalf("probe %s: %v", tt.hook, err)
		}
		if got != tt.want {
			t.Errorf("hook %s present = %v, want %v", tt.hook, got, tt.want)
		}
	}
}

// TestBPFLSMDeniesOpen proves the guest can do what the host cannot: load a
// BPF LSM program and have it enforce. The same open succeeds before the
// program is attached, fails with EPERM while it is, and succeeds after.
func TestBPFLSMDeniesOpen(t *testing.T) {
	vmtest.RequireVM(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() error {
		f, err := os.Open(victim)
		if err == nil {
			f.Close()
		}
		return err
	}

	// Deny file_open for this process only, so init and the kernel's own
	// threads are not affected while the program is attached.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       ebpf.LSM,
		AttachType: ebpf.AttachLSMMac,
		AttachTo:   "file_open",
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.JNE.Imm(asm.R0, int32(os.Getpid()), "allow"),
			asm.Mov.Imm(asm.R0, -int32(syscall.EPERM)),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("allow"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatalf("load lsm/file_open: %v", err)
	}
	defer prog.Close()

	if err := open(); err != nil {
		t.Fatalf("open before attach: %v", err)
	}
	l, err := link.AttachLSM(link.LSMOptions{Program: prog})
	if err != nil {
		t.Fatalf("attach lsm/file_open: %v", err)
	}
	errAttached := open()
	if err := l.Close(); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if !errors.Is(errAttached, syscall.EPERM) {
		t.Errorf("open while attached: %v, want EPERM", errAttached)
	}
	if err := open(); err != nil {
		t.Errorf("open after detach: %v", err)
	}
}
