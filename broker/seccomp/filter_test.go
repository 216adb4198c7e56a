package seccomp

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// loadVM loads the assembled program into x/net/bpf's VM and returns a
// function running it on a seccomp_data (64 bytes) that fill has written.
// The VM loads words big-endian, so fill encodes big-endian: the program
// sees the same values the kernel would give it.
func loadVM(t testing.TB, prog []unix.SockFilter) func(fill func(data []byte)) Action {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insts, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble")
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	data := make([]byte, 64) // sizeof(struct seccomp_data)
	return func(fill func(data []byte)) Action {
		fill(data)
		ret, err := vm.Run(data)
		if err != nil {
			t.Fatalf("VM run: %v", err)
		}
		return Action(uint32(ret))
	}
}

// simulator runs the program on a seccomp_data for (auditArch, nr).
func simulator(t testing.TB, prog []unix.SockFilter) func(auditArch, nr uint32) Action {
	t.Helper()
	run := loadVM(t, prog)
	return func(auditArch, nr uint32) Action {
		return run(func(data []byte) {
			binary.BigEndian.PutUint32(data[offsetNr:], nr)
			binary.BigEndian.PutUint32(data[offsetArch:], auditArch)
		})
	}
}

func simulate(t testing.TB, prog []unix.SockFilter, auditArch uint32, nr uint32) Action {
	t.Helper()
	return simulator(t, prog)(auditArch, nr)
}

func nr(t testing.TB, name string) uint32 {
	t.Helper()
	n, ok := native.SyscallNames[name]
	if !ok {
		t.Fatalf("no syscall %q on %s", name, native.Name)
	}
	return uint32(n)
}

func TestAssembleDecides(t *testing.T) {
	nativeArch := uint32(native.ID)
	filter := Filter{
		Default: Allow,
		Rules: []Rule{
			DenyMountFamily(),
			{Syscalls: []string{"fchmodat", "fchmodat2"}, Action: Errno(unix.EACCES)},
			// Shadowed by the rule above for fchmodat: the first match wins.
			{Syscalls: []string{"fchmodat", "openat"}, Action: Notify},
			{Syscalls: []string{"getcwd"}, Action: Log},
		},
	}
	prog, err := filter.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		syscall string
		want    Action
	}{
		{"mount", Errno(unix.EPERM)},
		{"open_tree", Errno(unix.EPERM)},
		{"move_mount", Errno(unix.EPERM)},
		{"fsmount", Errno(unix.EPERM)},
		{"mount_setattr", Errno(unix.EPERM)},
		{"fchmodat", Errno(unix.EACCES)},
		{"fchmodat2", Errno(unix.EACCES)},
		{"openat", Notify},
		{"getcwd", Log},
		{"read", Allow},
		{"execve", Allow},
	}
	for _, c := range cases {
		if got := simulate(t, prog, nativeArch, nr(t, c.syscall)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.syscall, got, c.want)
		}
	}
}

func TestForeignABIIsKilled(t *testing.T) {
	prog, err := Filter{Default: Allow}.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	// The default is Allow, so anything but KillProcess here means the
	// foreign call would have run unfiltered.
	if got := simulate(t, prog, uint32(native.ID), nr(t, "getpid")); got != Allow {
		t.Fatalf("native getpid: got %s, want allow", got)
	}
	foreign := arch.I386.ID
	if native.ID == arch.I386.ID {
		foreign = arch.X86_64.ID
	}
	if got := simulate(t, prog, uint32(foreign), 20); got != KillProcess {
		t.Errorf("foreign arch %#x: got %s, want kill-process", uint32(foreign), got)
	}
	if native.ID == arch.X86_64.ID {
		if got := simulate(t, prog, uint32(native.ID), x32SyscallBit|nr(t, "getpid")); got != KillProcess {
			t.Errorf("x32 getpid: got %s, want kill-process", got)
		}
	}
}

// A rule list as long as the syscall table forces jumps beyond the 255
// instructions a cBPF conditional jump can skip.
func TestAssembleLongRuleList(t *testing.T) {
	var all []string
	for name := range native.SyscallNames {
		all = append(all, name)
	}
	prog, err := Filter{Default: Allow, Rules: []Rule{{Syscalls: all, Action: Errno(unix.ENOSYS)}}}.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) <= 256 {
		t.Fatalf("program has only %d instructions; the test needs long jumps", len(prog))
	}
	for _, name := range all {
		if got := simulate(t, prog, uint32(native.ID), nr(t, name)); got != Errno(unix.ENOSYS) {
			t.Fatalf("%s: got %s, want errno(ENOSYS)", name, got)
		}
	}
	if got := simulate(t, prog, uint32(native.ID), 4000); got != Allow {
		t.Errorf("unlisted syscall number: got %s, want allow", got)
	}
}

func TestAssembleRejects(t *testing.T) {
	cases := []struct {
		name    string
		filter  Filter
		wantErr string
	}{
		{"unknown syscall", Filter{Default: Allow, Rules: []Rule{{Syscalls: []string{"chmod", "chmood"}, Action: Errno(unix.EPERM)}}}, "chmood"},
		{"kill-thread default", Filter{Default: 0}, "not one of"},
		{"trap action", Filter{Default: Allow, Rules: []Rule{{Syscalls: []string{"read"}, Action: unix.SECCOMP_RET_TRAP}}}, "not one of"},
		{"errno zero", Filter{Default: Allow, Rules: []Rule{{Syscalls: []string{"read"}, Action: Errno(0)}}}, "errno 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.filter.Assemble()
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Assemble: got %v, want an error containing %q", err, c.wantErr)
			}
			// Install must fail before it touches the process.
			if fd, err := c.filter.Install(); err == nil || fd != -1 {
				t.Fatalf("Install: got fd %d, err %v", fd, err)
			}
			nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
			if err != nil || nnp != 0 {
				t.Fatalf("no_new_privs set by a failed Install (%d, %v)", nnp, err)
			}
		})
	}
}

func TestRulesFor(t *testing.T) {
	if rules := RulesFor(rights.All); len(rules) != 0 {
		t.Errorf("RulesFor(all) = %v, want no rules", rules)
	}
	// Each table row alone: taking away its rights must refuse exactly its
	// syscalls and leave the rest of the table running.
	for _, row := range rightSyscalls {
		t.Run(row.need.String(), func(t *testing.T) {
			prog, err := Filter{Default: Allow, Rules: RulesFor(rights.All.Without(row.need))}.Assemble()
			if err != nil {
				t.Fatal(err)
			}
			for _, other := range rightSyscalls {
				want := Allow
				if other.need.Intersect(row.need) != 0 {
					want = Errno(unix.EPERM)
				}
				for _, name := range known(other.syscalls) {
					if got := simulate(t, prog, uint32(native.ID), nr(t, name)); got != want {
						t.Errorf("%s: got %s, want %s", name, got, want)
					}
				}
			}
			for _, name := range []string{"openat", "read", "execve", "newfstatat", "mmap"} {
				if Known(name) {
					if got := simulate(t, prog, uint32(native.ID), nr(t, name)); got != Allow {
						t.Errorf("%s: got %s, want allow", name, got)
					}
				}
			}
		})
	}
	// Link needs both halves: holding one is not enough to link.
	prog, err := Filter{Default: Allow, Rules: RulesFor(rights.All.Without(rights.LinkTo))}.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if got := simulate(t, prog, uint32(native.ID), nr(t, "linkat")); got != Errno(unix.EPERM) {
		t.Errorf("linkat with link-from only: got %s, want errno(EPERM)", got)
	}
}

func TestActionString(t *testing.T) {
	cases := map[Action]string{
		Allow: "allow", Notify: "notify", KillProcess: "kill-process", Log: "log",
		Errno(unix.EPERM): "errno(EPERM)", Errno(4000): "errno(4000)", 0x30000: "action(0x30000)",
	}
	for a, want := range cases {
		if got := a.String(); got != want {
			t.Errorf("%#x: got %q, want %q", uint32(a), got, want)
		}
	}
}
