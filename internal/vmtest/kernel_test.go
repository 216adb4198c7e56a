package vmtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseMatrix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // kernel names
		wantErr string
	}{
		{"two kernels", "# comment\n\na suite pkg 1.0\nb suite pkg 2.0 # trailing\n", []string{"a", "b"}, ""},
		{"missing field", "a suite pkg\n", nil, "want \"name suite package version\""},
		{"extra field", "a suite pkg 1.0 x\n", nil, "5 fields"},
		{"duplicate", "a s p 1\na s p 2\n", nil, "duplicate"},
		{"slash in name", "a/b s p 1\n", nil, "invalid kernel name"},
		{"dot name", ".apt s p 1\n", nil, "invalid kernel name"},
		{"empty", "# nothing\n", nil, "no kernels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kernels, err := parseMatrix("m", bufio.NewScanner(strings.NewReader(tt.in)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range kernels {
				names = append(names, k.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("names %v, want %v", names, tt.want)
			}
		})
	}
}

// TestLoadMatrixFindsOnlyThePinnedImage checks that a kernel counts as
// fetched only when the unpacked package is exactly the pinned one.
func TestLoadMatrixFindsOnlyThePinnedImage(t *testing.T) {
	t.Setenv(EnvKernelDir, "")
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(MatrixFile, "fetched s linux-image-6.1.0-1-cloud-amd64 6.1.1-1\n"+
		"stale s linux-image-6.12.9+deb13-cloud-amd64 6.12.9-1\n"+
		"absent s linux-image-x 1\n"+
		"no-image s linux-image-y 1\n")
	write(".cache/kernels/fetched/.pinned", "linux-image-6.1.0-1-cloud-amd64=6.1.1-1\n")
	write(".cache/kernels/fetched/boot/vmlinuz-6.1.0-1-cloud-amd64", "kernel")
	write(".cache/kernels/stale/.pinned", "linux-image-6.12.8+deb13-cloud-amd64=6.12.8-1\n")
	write(".cache/kernels/stale/boot/vmlinuz-6.12.8+deb13-cloud-amd64", "kernel")
	write(".cache/kernels/no-image/.pinned", "linux-image-y=1\n")

	kernels, err := LoadMatrix(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(kernels) != 4 {
		t.Fatalf("got %d kernels, want 4", len(kernels))
	}
	if k := kernels[0]; k.Release != "6.1.0-1-cloud-amd64" || k.Check() != nil ||
		k.Vmlinuz != filepath.Join(root, ".cache/kernels/fetched/boot/vmlinuz-6.1.0-1-cloud-amd64") {
		t.Errorf("fetched kernel: %+v, check %v", k, k.Check())
	}
	for _, k := range kernels[1:] {
		if err := k.Check(); err == nil || !strings.Contains(err.Error(), FetchCommand) {
			t.Errorf("%s: Check() = %v, want an error naming %s", k.Name, err, FetchCommand)
		}
	}
}

// TestRepoMatrix checks the committed matrix parses and pins what the BPF
// tests rely on: a kernel without the file_truncate hook (6.1) and one with it.
func TestRepoMatrix(t *testing.T) {
	kernels, err := Kernels()
	if err != nil {
		t.Fatal(err)
	}
	var have61, have612 bool
	for _, k := range kernels {
		have61 = have61 || strings.HasPrefix(k.Package, "linux-image-6.1.0-")
		have612 = have612 || strings.HasPrefix(k.Package, "linux-image-6.12.")
	}
	if !have61 || !have612 {
		t.Errorf("matrix lacks a 6.1 or a 6.12 kernel: %+v", kernels)
	}
}

func TestSelectKernels(t *testing.T) {
	all := []Kernel{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	got, err := selectKernels(all, "c, a")
	if err != nil || len(got) != 2 || got[0].Name != "c" || got[1].Name != "a" {
		t.Errorf("selectKernels(c, a) = %v, %v", got, err)
	}
	if _, err := selectKernels(all, "a,zz"); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown name: %v", err)
	}
}

func TestGuestArgs(t *testing.T) {
	tests := []struct {
		in    []string
		short bool
		want  string
	}{
		{nil, false, "-test.v -test.timeout=4m30s"},
		{[]string{"-test.run=X"}, false, "-test.v -test.timeout=4m30s -test.run=X"},
		{[]string{"-test.v=false", "-test.timeout=1m"}, false, "-test.v=false -test.timeout=1m"},
		{[]string{"-test.v", "-test.timeout=1m"}, true, "-test.short -test.v -test.timeout=1m"},
		{[]string{"-test.short=false"}, true, "-test.v -test.timeout=4m30s -test.short=false"},
	}
	for _, tt := range tests {
		if got := strings.Join(guestArgs(tt.in, tt.short), " "); got != tt.want {
			t.Errorf("guestArgs(%q, short=%v) = %q, want %q", tt.in, tt.short, got, tt.want)
		}
	}
}

func TestEmulatorFault(t *testing.T) {
	for _, tc := range []struct {
		console string
		fault   bool
	}{
		{"[    1.5] Oops: general protection fault, maybe for address 0x10: 0000 [#1] PREEMPT SMP NOPTI\n", true},
		{"[    1.9] BUG: kernel NULL pointer dereference, address: 0000000000000008\n", true},
		{"fatal error: unexpected signal during runtime execution\n[signal SIGSEGV: segmentation violation code=0x80 addr=0x0 pc=0x42de2e]\n", true},
		// A Go nil dereference in the code under test is a real failure.
		{"panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]\n", false},
		{"--- FAIL: TestDeny (0.01s)\n    deny_test.go:12: open succeeded\n", false},
		{"", false},
	} {
		if got := emulatorFault(tc.console) != ""; got != tc.fault {
			t.Errorf("emulatorFault(%q) = %v, want %v", tc.console, got, tc.fault)
		}
	}
}

// stopRecorder is a testing.TB whose Fatal, Fatalf and Skip record the
// message and end the goroutine, as the real ones end the test.
type stopRecorder struct {
	testing.TB
	fatal, skip string
}

func (r *stopRecorder) Helper() {}

func (r *stopRecorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *stopRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *stopRecorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

// availableOrStop runs AvailableKernels with a stopRecorder in a goroutine
// of its own and returns the kernels, or the recorder that stopped it.
func availableOrStop(t *testing.T) ([]Kernel, *stopRecorder) {
	r := &stopRecorder{TB: t}
	var kernels []Kernel
	done := make(chan struct{})
	go func() {
		defer close(done)
		kernels = AvailableKernels(r)
	}()
	<-done
	return kernels, r
}

// TestAvailableKernels checks the selection the VM tests share: qemu and a
// fetched kernel are required (a skip, or a failure under CAPFD_VM_REQUIRE),
// CAPFD_VM_KERNELS picks kernels by name in its order, and a name the
// matrix lacks fails. Kernels are "fetched" into a temporary kernel dir.
func TestAvailableKernels(t *testing.T) {
	t.Setenv(EnvKernelDir, t.TempDir())
	matrix, err := Kernels()
	if err != nil {
		t.Fatal(err)
	}
	if len(matrix) < 2 {
		t.Fatalf("the matrix has %d kernels, the test needs two", len(matrix))
	}
	first, second := matrix[0].Name, matrix[1].Name

	t.Setenv("CAPFD_QEMU", os.Args[0]) // any executable: it is looked up, not run
	t.Setenv(EnvKernels, "")
	t.Setenv(EnvRequire, "")
	// None fetched yet.
	if _, r := availableOrStop(t); !strings.Contains(r.skip, "no VM kernels fetched") || !strings.Contains(r.skip, FetchCommand) || r.fatal != "" {
		t.Errorf("nothing fetched: skip %q, fatal %q; want a skip naming %s", r.skip, r.fatal, FetchCommand)
	}
	t.Setenv(EnvRequire, "1")
	if _, r := availableOrStop(t); !strings.Contains(r.fatal, "no VM kernels fetched") || !strings.Contains(r.fatal, EnvRequire) {
		t.Errorf("nothing fetched, required: fatal %q, want one naming %s", r.fatal, EnvRequire)
	}
	t.Setenv(EnvRequire, "")

	// Fetch the second kernel of the matrix, as scripts/fetch-kernels.sh would.
	dir := filepath.Join(os.Getenv(EnvKernelDir), second)
	if err := os.MkdirAll(filepath.Join(dir, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".pinned"), []byte(matrix[1].Package+"="+matrix[1].Version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-test"), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}

	names := func(ks []Kernel) string {
		var n []string
		for _, k := range ks {
			n = append(n, k.Name)
		}
		return strings.Join(n, ",")
	}
	for _, tc := range []struct {
		name, sel string
		want      string // kernel names, comma-separated
		skip      string // or a skip containing this
		fatal     string // or a failure containing this
	}{
		{name: "all", want: names(matrix)},
		{name: "reordered", sel: second + ", " + first, want: second + "," + first},
		{name: "unfetched only", sel: first, skip: "no VM kernels fetched (" + first + ")"},
		{name: "unknown name", sel: second + ",no-such-kernel", fatal: `no kernel "no-such-kernel"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvKernels, tc.sel)
			got, r := availableOrStop(t)
			switch {
			case tc.skip != "" || tc.fatal != "":
				if !strings.Contains(r.skip, tc.skip) || !strings.Contains(r.fatal, tc.fatal) || (r.skip == "") == (r.fatal == "") {
					t.Errorf("%s=%q: skip %q, fatal %q; want skip %q, fatal %q", EnvKernels, tc.sel, r.skip, r.fatal, tc.skip, tc.fatal)
				}
			case r.skip != "" || r.fatal != "":
				t.Errorf("%s=%q: skip %q, fatal %q; want kernels %s", EnvKernels, tc.sel, r.skip, r.fatal, tc.want)
			case names(got) != tc.want:
				t.Errorf("%s=%q: kernels %s, want %s", EnvKernels, tc.sel, names(got), tc.want)
			}
			for _, k := range got {
				if (k.Name == second) != (k.Vmlinuz == filepath.Join(dir, "boot", "vmlinuz-test")) {
					t.Errorf("%s: Vmlinuz %q", k.Name, k.Vmlinuz)
				}
			}
		})
	}

	t.Setenv("CAPFD_QEMU", "capfd-no-such-qemu")
	t.Setenv(EnvKernels, "")
	if _, r := availableOrStop(t); !strings.Contains(r.skip, "capfd-no-such-qemu not found") || r.fatal != "" {
		t.Errorf("no qemu: skip %q, fatal %q; want a skip naming the missing qemu", r.skip, r.fatal)
	}
	t.Setenv(EnvRequire, "1")
	if _, r := availableOrStop(t); !strings.Contains(r.fatal, "capfd-no-such-qemu not found") || !strings.Contains(r.fatal, EnvRequire) {
		t.Errorf("no qemu, required: fatal %q, want one naming %s", r.fatal, EnvRequire)
	}
}
