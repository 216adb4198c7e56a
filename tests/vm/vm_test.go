// Package vm runs the vmtest self-test guest (internal/vmtest/guesttest) in
// every kernel of the matrix in kernels.txt, proving the VM harness works
// before other packages rely on it. Fetch qemu and the kernels with
// scripts/fetch-kernels.sh; CAPFD_VM_REQUIRE=1 makes their absence a failure.
package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/internal/vmtest"
)

const guestPkg = "github.com/capfd/capfd/internal/vmtest/guesttest"

func randomToken(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestGuestSelfTest runs the guest tests on every kernel the way other
// packages will, through RunPackageTests; the guest echoes a fresh token.
func TestGuestSelfTest(t *testing.T) {
	token := randomToken(t)
	results := vmtest.RunPackageTests(t, guestPkg, "-guesttest.token="+token)
	for name, res := range results {
		if res.ExitCode != 0 {
			continue // the subtest has failed already, with the output
		}
		if !strings.Contains(res.Output, "guesttest token="+token) {
			t.Errorf("%s: guest output lacks the token it was given", name)
		}
		// The -v output names every test; a guest test that skipped would
		// hide a broken harness behind a passing exit code.
		if strings.Contains(res.Output, "--- SKIP") {
			t.Errorf("%s: a guest test skipped inside the VM", name)
		}
	}
}

// TestHostInputs checks that ExtraFiles and Env reach the guest, on one kernel.
func TestHostInputs(t *testing.T) {
	k, bin := setup(t)
	token := randomToken(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := vmtest.Run(context.Background(), k, vmtest.Options{
		TestBinary: bin,
		Args:       []string{"-test.v", "-test.run=^TestHostInputs$", "-guesttest.token=" + token, "-guesttest.extra=/data/token"},
		Env:        []string{"GUESTTEST_TOKEN=" + token},
		ExtraFiles: map[string]string{"/data/token": tokenFile},
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", k, err, res.Output)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s: exit code %d\n%s", k, res.ExitCode, res.Output)
	}
	if !strings.Contains(res.Output, "guesttest env="+token) {
		t.Errorf("%s: Env did not reach the guest\n%s", k, res.Output)
	}
	if !strings.Contains(res.Output, "--- PASS: TestHostInputs") {
		t.Errorf("%s: TestHostInputs did not pass in the guest\n%s", k, res.Output)
	}
}

// TestGuestFailureIsReported checks the failure paths the harness exists to
// get right: qemu exits 0 however the guest ends, so the exit code must come
// from init's marker, and a guest that ends without one must be an error.
func TestGuestFailureIsReported(t *testing.T) {
	k, bin := setup(t)
	notELF := filepath.Join(t.TempDir(), "not-an-elf")
	if err := os.WriteFile(notELF, []byte("not an executable\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		opts     vmtest.Options
		wantCode int
		wantErr  error
	}{
		{
			name:     "exit code of the test binary",
			opts:     vmtest.Options{TestBinary: bin, Args: []string{"-test.run=^TestMounts$", "-guesttest.exit=3"}},
			wantCode: 3,
		},
		{
			name:     "test binary that cannot run",
			opts:     vmtest.Options{TestBinary: notELF},
			wantCode: 125,
		},
		{
			name:     "guest ends without exit marker",
			opts:     vmtest.Options{TestBinary: bin, Args: []string{"-guesttest.poweroff"}},
			wantCode: -1,
			wantErr:  vmtest.ErrNoExitStatus,
		},
		{
			name:     "timeout",
			opts:     vmtest.Options{TestBinary: bin, Timeout: 500 * time.Millisecond},
			wantCode: -1,
			wantErr:  context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := vmtest.Run(context.Background(), k, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s: error %v, want %v\n%s", k, err, tt.wantErr, res.Output)
			}
			if res.ExitCode != tt.wantCode {
				t.Errorf("%s: exit code %d, want %d\n%s", k, res.ExitCode, tt.wantCode, res.Output)
			}
		})
	}
}

// TestMissingSetup checks the skip-or-fail contract without booting anything:
// a missing qemu or missing kernels skip the VM tests with a message naming
// what is missing and how to fetch it, and fail under CAPFD_VM_REQUIRE=1.
// It re-runs this test binary, since a skip or failure ends the test.
func TestMissingSetup(t *testing.T) {
	if os.Getenv("VMTEST_MISSING_SETUP_HELPER") == "1" {
		vmtest.RunPackageTests(t, guestPkg)
		t.Fatal("RunPackageTests ran without qemu or kernels")
	}
	tests := []struct {
		name    string
		env     []string
		require string
		want    []string
	}{
		{"no qemu", []string{"CAPFD_QEMU=capfd-no-such-qemu"}, "", []string{"--- SKIP", "capfd-no-such-qemu not found", vmtest.FetchCommand}},
		{"no qemu, required", []string{"CAPFD_QEMU=capfd-no-such-qemu"}, "1", []string{"--- FAIL", "capfd-no-such-qemu not found", vmtest.EnvRequire}},
		{"no kernels", []string{vmtest.EnvKernelDir + "=" + t.TempDir()}, "", []string{"--- SKIP", "no VM kernels fetched", vmtest.FetchCommand}},
		{"no kernels, required", []string{vmtest.EnvKernelDir + "=" + t.TempDir()}, "1", []string{"--- FAIL", "no VM kernels fetched", vmtest.EnvRequire}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env[0] != "CAPFD_QEMU=capfd-no-such-qemu" {
				// The kernel case is only reached with a working qemu.
				if _, err := vmtest.QemuBinary(); err != nil {
					vmtest.SkipOrFail(t, err.Error())
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingSetup$", "-test.v")
			cmd.Env = append(os.Environ(), "VMTEST_MISSING_SETUP_HELPER=1", vmtest.EnvRequire+"="+tt.require)
			cmd.Env = append(cmd.Env, tt.env...)
			out, _ := cmd.CombinedOutput()
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestBadOptions checks that what the kernel command line cannot carry is
// refused on the host instead of reaching the guest mangled.
func TestBadOptions(t *testing.T) {
	k := vmtest.Kernel{Name: "unused", Vmlinuz: "/nonexistent"}
	tests := []struct {
		name    string
		opts    vmtest.Options
		wantErr string
	}{
		{"no binary", vmtest.Options{}, "TestBinary is empty"},
		{"space in arg", vmtest.Options{TestBinary: os.Args[0], Args: []string{"-test.run=A B"}}, "without spaces"},
		{"quote in arg", vmtest.Options{TestBinary: os.Args[0], Args: []string{`-x="y"`}}, "quotes"},
		{"empty arg", vmtest.Options{TestBinary: os.Args[0], Args: []string{""}}, "empty word"},
		{"env without =", vmtest.Options{TestBinary: os.Args[0], Env: []string{"FOO"}}, "not KEY=VALUE"},
		{"relative extra file", vmtest.Options{TestBinary: os.Args[0], ExtraFiles: map[string]string{"rel": os.Args[0]}}, "must be absolute"},
		{"extra file over init", vmtest.Options{TestBinary: os.Args[0], ExtraFiles: map[string]string{"/init": os.Args[0]}}, "not /init"},
		{"missing extra file", vmtest.Options{TestBinary: os.Args[0], ExtraFiles: map[string]string{"/x": "/nonexistent"}}, "/nonexistent"},
		{"too long", vmtest.Options{TestBinary: os.Args[0], Args: []string{strings.Repeat("a", 3000)}}, "limit is 2047"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vmtest.Run(context.Background(), k, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// setup returns the first fetched kernel of those vmtest.AvailableKernels
// selects, and the guest test binary.
func setup(t *testing.T) (vmtest.Kernel, string) {
	t.Helper()
	kernels := vmtest.AvailableKernels(t)
	i := slices.IndexFunc(kernels, func(k vmtest.Kernel) bool { return k.Check() == nil })
	bin, err := vmtest.BuildTestBinary(guestPkg)
	if err != nil {
		t.Fatal(err)
	}
	return kernels[i], bin
}
