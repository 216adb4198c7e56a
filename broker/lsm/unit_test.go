//go:build linux

package lsm

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// Host-side tests: no BPF needed.

func TestParseLSMList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"lockdown,capability,landlock,bpf\n", []string{"lockdown", "capability", "landlock", "bpf"}},
		{"capability,yama", []string{"capability", "yama"}},
		{"", nil},
		{" , bpf ,\n", []string{"bpf"}},
	}
	for _, tt := range tests {
		if got := parseLSMList(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("parseLSMList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKernelDev(t *testing.T) {
	tests := []struct {
		major, minor uint32
		want         uint32
	}{
		{0, 0, 0},
		{8, 1, 8<<20 | 1},
		{0, 300, 300}, // anonymous devices (tmpfs, proc) have minor > 255
		{259, 70000, 259<<20 | 70000},
	}
	for _, tt := range tests {
		statDev := unix.Mkdev(tt.major, tt.minor)
		got, err := KernelDev(statDev)
		if err != nil || got != tt.want {
			t.Errorf("KernelDev(%d:%d) = %#x, %v; want %#x", tt.major, tt.minor, got, err, tt.want)
		}
		if back := statDevFromKernel(got); back != statDev {
			t.Errorf("statDevFromKernel(%#x) = %#x, want %#x", got, back, statDev)
		}
	}
	if _, err := KernelDev(unix.Mkdev(1<<12, 0)); err == nil {
		t.Error("KernelDev accepted a major number the kernel's dev_t cannot hold")
	}
	if _, err := KernelDev(unix.Mkdev(0, 1<<20)); err == nil {
		t.Error("KernelDev accepted a minor number the kernel's dev_t cannot hold")
	}
}

// TestHookNames: every counter of enum hook has a distinct name.
func TestHookNames(t *testing.T) {
	if len(hookNames) != int(capfdHookHOOK_COUNT) {
		t.Fatalf("%d hook names for %d hooks in the BPF object", len(hookNames), capfdHookHOOK_COUNT)
	}
	seen := map[string]bool{}
	for i, name := range hookNames {
		if name == "" || seen[name] {
			t.Errorf("hook %d: name %q empty or repeated", i, name)
		}
		seen[name] = true
	}
	spec, err := loadCapfd()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range spec.Programs {
		if p.AttachTo != name {
			t.Errorf("program %s attaches to %s: keep program names equal to hook names", name, p.AttachTo)
		}
		if name != "task_alloc" && !seen[name] {
			t.Errorf("program %s has no counter name", name)
		}
	}
	if got := hookName(capfdHook(999)); got != "hook(999)" {
		t.Errorf("hookName(999) = %q", got)
	}
}

func encodeDenial(t testing.TB, rec capfdDenial) []byte {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.NativeEndian, rec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeDenial(t *testing.T) {
	raw := encodeDenial(t, capfdDenial{
		Hook: capfdHookHOOK_FILE_OPEN, Pid: 42, Sandbox: 7, Dev: 8<<20 | 3, Ino: 99,
		Needed: uint64(rights.Write), Granted: uint64(rights.Read),
	})
	got, err := decodeDenial(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Denial{Hook: "file_open", Pid: 42, Sandbox: 7, Dev: unix.Mkdev(8, 3), Ino: 99, Needed: rights.Write, Granted: rights.Read}
	if got != want {
		t.Errorf("decodeDenial = %v, want %v", got, want)
	}
	if !strings.Contains(got.String(), "needs write") {
		t.Errorf("String() = %q", got.String())
	}
	for _, n := range []int{0, 1, len(raw) - 1, len(raw) + 8} {
		b := make([]byte, n)
		copy(b, raw)
		if _, err := decodeDenial(b); err == nil {
			t.Errorf("decodeDenial accepted a %d-byte record", n)
		}
	}
}

// FuzzDecodeDenial: no ring buffer record, however mangled, panics the
// reader.
func FuzzDecodeDenial(f *testing.F) {
	f.Add(encodeDenial(f, capfdDenial{Hook: capfdHookHOOK_PATH_RENAME, Pid: 1, Sandbox: 1, Needed: 1 << 11}))
	f.Add(encodeDenial(f, capfdDenial{Hook: 0xffffffff, Needed: ^uint64(0), Granted: ^uint64(0), Dev: ^uint32(0)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := decodeDenial(raw)
		if err != nil {
			return
		}
		if d.Hook == "" {
			t.Errorf("decoded a denial without a hook name from %x", raw)
		}
		_ = d.String()
	})
}

// TestProbeExplains: where BPF LSM is unavailable, Probe says why.
func TestProbeExplains(t *testing.T) {
	err := Probe()
	if err == nil {
		t.Skip("BPF LSM works on this kernel: nothing to explain")
	}
	if !strings.HasPrefix(err.Error(), "BPF LSM: ") || len(err.Error()) < 30 {
		t.Errorf("Probe error %q does not explain itself", err)
	}
	t.Logf("Probe: %v", err)
}
