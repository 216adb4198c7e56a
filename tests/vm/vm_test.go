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
	"path/filepath"
	"strings"
	"testing"

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

// TestGuestSelfTest runs the guest tests on every kernel; the guest echoes a
// fresh token, read back from a file the host put in the initramfs.
func TestGuestSelfTest(t *testing.T) {
	kernels, bin := setup(t)
	token := randomToken(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	results := vmtest.RunOnKernels(t, kernels, vmtest.Options{
		TestBinary: bin,
		Args:       []string{"-test.v", "-guesttest.token=" + token, "-guesttest.extra=/data/token"},
		ExtraFiles: map[string]string{"/data/token": tokenFile},
	})
	for name, res := range results {
		if res.ExitCode == 0 && !strings.Contains(res.Output, "guesttest token="+token) {
			t.Errorf("%s: guest output lacks the token it was given", name)
		}
		// The -v output names every test; a guest test that skipped would
		// hide a broken harness behind a passing exit code.
		if strings.Contains(res.Output, "--- SKIP") {
			t.Errorf("%s: a guest test skipped inside the VM", name)
		}
	}
}

// TestGuestFailureIsReported checks the failure paths the harness exists to
// get right: qemu exits 0 however the guest ends, so the exit code must come
// from init's marker, and a guest without a marker must be an error.
func TestGuestFailureIsReported(t *testing.T) {
	kernels, bin := setup(t)
	k := firstAvailable(t, kernels)

	res, err := vmtest.Run(context.Background(), k, vmtest.Options{
		TestBinary: bin,
		Args:       []string{"-test.run=^TestMounts$", "-guesttest.exit=3"},
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", k, err, res.Output)
	}
	if res.ExitCode != 3 {
		t.Errorf("%s: exit code %d, want 3 (set by -guesttest.exit)\n%s", k, res.ExitCode, res.Output)
	}

	// A test binary that is not executable in the guest: init reports 125.
	notExec := filepath.Join(t.TempDir(), "not-a-binary")
	if err := os.WriteFile(notExec, []byte("not an ELF file\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err = vmtest.Run(context.Background(), k, vmtest.Options{TestBinary: notExec})
	if err != nil {
		t.Fatalf("%s: %v\n%s", k, err, res.Output)
	}
	if res.ExitCode != 125 {
		t.Errorf("%s: exit code %d for a non-executable test binary, want 125\n%s", k, res.ExitCode, res.Output)
	}
}

// TestBadOptions checks that what the kernel command line cannot carry is
// refused on the host instead of reaching the guest mangled.
func TestBadOptions(t *testing.T) {
	k := vmtest.Kernel{Name: "unused", Vmlinuz: "/nonexistent"}
	tests := []struct {
		name string
		opts vmtest.Options
	}{
		{"no binary", vmtest.Options{}},
		{"space in arg", vmtest.Options{TestBinary: os.Args[0], Args: []string{"-test.run=A B"}}},
		{"quote in arg", vmtest.Options{TestBinary: os.Args[0], Args: []string{`-x="y"`}}},
		{"env without =", vmtest.Options{TestBinary: os.Args[0], Env: []string{"FOO"}}},
		{"relative extra file", vmtest.Options{TestBinary: os.Args[0], ExtraFiles: map[string]string{"rel": os.Args[0]}}},
		{"missing extra file", vmtest.Options{TestBinary: os.Args[0], ExtraFiles: map[string]string{"/x": "/nonexistent"}}},
		{"too long", vmtest.Options{TestBinary: os.Args[0], Args: []string{strings.Repeat("a", 3000)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vmtest.Run(context.Background(), k, tt.opts)
			if err == nil {
				t.Fatal("Run accepted bad options")
			}
			t.Log(err)
		})
	}
}

func setup(t *testing.T) ([]vmtest.Kernel, string) {
	t.Helper()
	if _, err := vmtest.QemuBinary(); err != nil {
		skipOrFail(t, err.Error())
	}
	kernels, err := vmtest.Kernels()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := vmtest.BuildTestBinary(guestPkg)
	if err != nil {
		t.Fatal(err)
	}
	return kernels, bin
}

func firstAvailable(t *testing.T, kernels []vmtest.Kernel) vmtest.Kernel {
	t.Helper()
	var errs []error
	for _, k := range kernels {
		if err := k.Check(); err != nil {
			errs = append(errs, err)
			continue
		}
		return k
	}
	skipOrFail(t, errors.Join(errs...).Error())
	return vmtest.Kernel{}
}

func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(vmtest.EnvRequire) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", reason, vmtest.EnvRequire)
	}
	t.Skip(reason)
}
