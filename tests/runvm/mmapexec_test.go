//go:build linux

package runvm

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/internal/vmtest"
)

// Where the host test puts the binaries in the guest. The guest has no Go
// toolchain, so both are built on the host, static.
const (
	guestCapfd    = "/usr/local/bin/capfd"
	guestMmapExec = "/usr/local/bin/mmapexec"
)

// TestMmapExecNeedsGrantUnderBPFLSM is the guest half: the BPF LSM is active
// (the guest boots with lsm=...,bpf), so capfd run must mark its program
// and an executable mapping of a read-only grant must be refused.
func TestMmapExecNeedsGrantUnderBPFLSM(t *testing.T) {
	vmtest.RequireVM(t)
	if err := lsm.Probe(); err != nil {
		t.Fatalf("the guest kernel boots with lsm=%s, yet: %v", vmtest.KernelLSMs, err)
	}
	checkMmapExec(t, guestCapfd, guestMmapExec, true)
}

// TestMmapExecOnThisHost is the host half. On a kernel without BPF LSM (this
// development host) it documents the gap the BPF layer closes: capfd run
// lets the program map a read-only file executable. On a host with BPF LSM
// it expects the refusal, as in the guest.
func TestMmapExecOnThisHost(t *testing.T) {
	if vmtest.InVM() {
		t.Skip("host test; the guest runs TestMmapExecNeedsGrantUnderBPFLSM")
	}
	dir := t.TempDir()
	capfd, mmapExec, _ := buildBinaries(t, dir)
	probeErr := lsm.Probe()
	t.Logf("BPF LSM on this host: %v", errOrOK(probeErr))
	checkMmapExec(t, capfd, mmapExec, probeErr == nil)
}

// checkMmapExec maps a file executable directly, under capfd run with a
// read-only grant, and with a read-only grant plus mmap-exec. bpf says
// whether the BPF LSM layer is active, which decides the second case.
func checkMmapExec(t *testing.T, capfd, mmapExec string, bpf bool) {
	t.Helper()
	if err := seccomp.Probe(); err != nil {
		t.Skipf("capfd run needs seccomp user notification: %v", err)
	}
	data := t.TempDir()
	file := filepath.Join(data, "f")
	// mmap needs a non-empty file: an empty one fails with EINVAL before
	// any LSM is asked.
	if err := os.WriteFile(file, bytes.Repeat([]byte{0xc3}, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(grant string) []string {
		return []string{capfd, "run", "-v", "--no-default-profile",
			"--grant", data + "=" + grant,
			"--grant", mmapExec + "=rx",
			"--", mmapExec, file}
	}

	roWant, roCode := "mapped", 0
	if bpf {
		roWant, roCode = "refused: EPERM", 1
	}
	for _, tc := range []struct {
		name string
		argv []string
		want string // the helper's stdout
		code int    // the exit status of argv
	}{
		{
			// Without capfd nothing stops it: the refusal below is capfd's.
			name: "unconfined",
			argv: []string{mmapExec, file},
			want: "mapped",
		},
		{
			name: "run ro",
			argv: run("ro"),
			want: roWant, code: roCode,
		},
		{
			// The same run with mmap-exec granted maps: the refusal is the
			// rights check, not a blanket failure of marked programs.
			name: "run ro,mmap-exec",
			argv: run("ro,mmap-exec"),
			want: "mapped",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("%s: %v", strings.Join(tc.argv, " "), err)
			}
			got := strings.TrimSpace(stdout.String())
			if got != tc.want || code != tc.code {
				t.Fatalf("%s:\nstdout %q, exit %d; want %q, exit %d\nstderr:\n%s",
					strings.Join(tc.argv, " "), got, code, tc.want, tc.code, stderr.String())
			}
			if tc.argv[0] == mmapExec {
				return
			}
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, "BPF LSM") {
					t.Log(line)
				}
			}
			// Which layer answered: capfd run -v says whether it marked
			// the program, and counts the BPF hooks' refusals when the
			// tree is gone (the hooks count before the call returns).
			var wantLog []string
			if bpf {
				wantLog = append(wantLog, "capfd run: BPF LSM: marked pid ")
				if code != 0 {
					wantLog = append(wantLog, "capfd run: BPF LSM denials: mmap_file=1\n")
				}
			} else {
				wantLog = append(wantLog, "capfd run: BPF LSM not used: ")
			}
			for _, w := range wantLog {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("capfd run -v stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if bpf && code == 0 && !strings.Contains(stderr.String(), "capfd run: BPF LSM denials: none\n") {
				t.Errorf("a run that mapped reports BPF LSM denials:\n%s", stderr.String())
			}
		})
	}
}

// TestInVM boots the kernels of the matrix (vmtest.AvailableKernels) with
// capfd and the helpers in the guest and runs
// TestMmapExecNeedsGrantUnderBPFLSM and TestKernelModeUnderBPFLSM there.
func TestInVM(t *testing.T) {
	if vmtest.InVM() {
		t.Skip("already inside the VM")
	}
	kernels := vmtest.AvailableKernels(t)
	dir := t.TempDir()
	capfd, mmapExec, walk := buildBinaries(t, dir)
	testBin, err := vmtest.BuildTestBinary("github.com/capfd/capfd/tests/runvm")
	if err != nil {
		t.Fatal(err)
	}
	vmtest.RunOnKernels(t, kernels, vmtest.Options{
		TestBinary: testBin,
		Args:       []string{"-test.v", "-test.run=^Test(MmapExecNeedsGrant|KernelMode)UnderBPFLSM$", "-test.timeout=4m"},
		ExtraFiles: map[string]string{guestCapfd: capfd, guestMmapExec: mmapExec, guestWalk: walk},
	})
}

// buildBinaries builds capfd and the mmapexec and walk helpers static into
// dir.
func buildBinaries(t *testing.T, dir string) (capfd, mmapExec, walk string) {
	t.Helper()
	capfd = filepath.Join(dir, "capfd")
	mmapExec = filepath.Join(dir, "mmapexec")
	walk = filepath.Join(dir, "walk")
	for out, pkg := range map[string]string{
		capfd:    "github.com/capfd/capfd/cmd/capfd",
		mmapExec: "./testdata/mmapexec",
		walk:     "./testdata/walk",
	} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return capfd, mmapExec, walk
}

func errOrOK(err error) string {
	if err != nil {
		return err.Error()
	}
	return "available"
}
