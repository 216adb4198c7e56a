package vmtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment variables read on the host.
const (
	// EnvRequire=1 turns a missing qemu or kernel into a test failure
	// instead of a skip. CI sets it, so the VM tests cannot silently vanish.
	EnvRequire = "CAPFD_VM_REQUIRE"
	// EnvKernels limits the matrix to a comma-separated list of names,
	// e.g. CAPFD_VM_KERNELS=bookworm-6.12 for a quicker local run.
	EnvKernels = "CAPFD_VM_KERNELS"
)

// InVM reports whether the current process is a test binary running inside a
// vmtest guest.
func InVM() bool { return os.Getenv(EnvInVM) == "1" }

// RequireVM skips the calling test unless it runs inside a vmtest guest. Use
// it in tests that need what only the VM kernels offer (BPF LSM programs are
// refused on the development host).
func RequireVM(t testing.TB) {
	t.Helper()
	if !InVM() {
		t.Skipf("needs a vmtest guest (%s=1): BPF LSM and a pinned kernel; run the package's VM test on the host", EnvInVM)
	}
}

// RunPackageTests builds the tests of pkg (import path) as a static binary and
// runs it inside every kernel of the matrix, one subtest per kernel. args go
// to the test binary; "-test.v" is added unless args set it. It returns the
// results of the kernels that ran, by kernel name, for extra assertions.
//
// A subtest fails when the guest's tests fail (non-zero exit) or the guest
// never reports an exit status; the guest output is logged on failure, and
// live under go test -v. Inside a guest RunPackageTests skips, so a package
// can hold both its guest tests and the host test that launches them.
func RunPackageTests(t *testing.T, pkg string, args ...string) map[string]Result {
	t.Helper()
	if InVM() {
		t.Skip("already inside the VM")
	}
	kernels := AvailableKernels(t)
	start := time.Now()
	bin, err := BuildTestBinary(pkg)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{TestBinary: bin, Args: guestArgs(args, testing.Short())}
	// Tests find their testdata relative to the package directory: mirror it.
	if dir, err := packageDir(pkg); err != nil {
		t.Fatal(err)
	} else if info, err := os.Stat(filepath.Join(dir, "testdata")); err == nil && info.IsDir() {
		guestDir := path.Join("/vmtest/pkg", pkg)
		opts.ExtraFiles = map[string]string{guestDir + "/testdata": filepath.Join(dir, "testdata")}
		opts.Dir = guestDir
	}
	t.Logf("built %s in %v", pkg, time.Since(start).Round(time.Millisecond))
	return RunOnKernels(t, kernels, opts)
}

// RunOnKernels runs opts.TestBinary in each kernel as a subtest named after
// the kernel, building the initramfs once for all of them. Kernels that are
// not fetched are skipped (failed under CAPFD_VM_REQUIRE=1).
func RunOnKernels(t *testing.T, kernels []Kernel, opts Options) map[string]Result {
	t.Helper()
	img, err := newImage(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer img.remove()

	results := map[string]Result{}
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			if err := k.Check(); err != nil {
				SkipOrFail(t, err.Error())
			}
			o := opts
			o.Timeout = boundedTimeout(t, opts.Timeout)
			// The guest console goes to the test's log: live under -v (a
			// slow or hung guest shows where it is), otherwise printed only
			// if the subtest fails.
			o.Console = t.Output()
			if opts.Console != nil {
				o.Console = io.MultiWriter(opts.Console, t.Output())
			}
			res, err := bootRetryingEmulatorFaults(t, img, k, o)
			results[k.Name] = res
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: boot %v, run %v", k, res.BootTime.Round(time.Millisecond), res.RunTime.Round(time.Millisecond))
			if res.ExitCode != 0 {
				t.Fatalf("%s: test binary exited with code %d", k, res.ExitCode)
			}
		})
	}
	return results
}

// AvailableKernels returns the kernels of the matrix that a test booting
// VMs runs on: all of them, or the ones CAPFD_VM_KERNELS names, in the
// order it names them (a name the matrix lacks fails the test). It skips
// the test (fails it under CAPFD_VM_REQUIRE=1) when qemu is missing or no
// selected kernel is fetched; RunOnKernels skips each one not fetched.
func AvailableKernels(t testing.TB) []Kernel {
	t.Helper()
	if _, err := QemuBinary(); err != nil {
		SkipOrFail(t, err.Error())
		return nil
	}
	kernels, err := Kernels()
	if err != nil {
		t.Fatal(err)
	}
	if sel := os.Getenv(EnvKernels); sel != "" {
		kernels, err = selectKernels(kernels, sel)
		if err != nil {
			t.Fatal(err)
		}
	}
	var missing []string
	for _, k := range kernels {
		if k.Vmlinuz == "" {
			missing = append(missing, k.Name)
		}
	}
	if len(missing) == len(kernels) {
		SkipOrFail(t, fmt.Sprintf("no VM kernels fetched (%s); run %s", strings.Join(missing, ", "), FetchCommand))
		return nil
	}
	return kernels
}

func selectKernels(all []Kernel, sel string) ([]Kernel, error) {
	byName := map[string]Kernel{}
	for _, k := range all {
		byName[k.Name] = k
	}
	var out []Kernel
	for _, name := range strings.Split(sel, ",") {
		k, ok := byName[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("%s=%s: no kernel %q in %s", EnvKernels, sel, name, MatrixFile)
		}
		out = append(out, k)
	}
	return out, nil
}

// SkipOrFail skips t for a missing VM prerequisite (qemu, a kernel, a
// binary the guest needs), or fails it under CAPFD_VM_REQUIRE=1, where the
// setup has provided everything.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", reason, EnvRequire)
	}
	t.Skip(reason)
}

// boundedTimeout keeps a run inside the test's own deadline, leaving time to
// report, so a hung guest fails the subtest instead of the whole binary.
func boundedTimeout(t *testing.T, want time.Duration) time.Duration {
	if want == 0 {
		want = DefaultTimeout
	}
	if deadline, ok := t.Deadline(); ok {
		if left := time.Until(deadline) - 10*time.Second; left < want {
			want = max(left, time.Second)
		}
	}
	return want
}

// guestArgs completes the caller's arguments for the guest test binary:
// -test.v so the console names every test; a -test.timeout shorter than the
// VM's, so a hung guest test panics with its goroutines' stacks instead of
// being cut off silently by the host; -test.short when the host run is short.
func guestArgs(args []string, short bool) []string {
	has := func(flag string) bool {
		for _, a := range args {
			if a == flag || strings.HasPrefix(a, flag+"=") {
				return true
			}
		}
		return false
	}
	var extra []string
	if !has("-test.v") {
		extra = append(extra, "-test.v")
	}
	if !has("-test.timeout") {
		extra = append(extra, "-test.timeout="+(DefaultTimeout-30*time.Second).String())
	}
	if short && !has("-test.short") {
		extra = append(extra, "-test.short")
	}
	return append(extra, args...)
}

// packageDir resolves an import path to its directory with go list.
func packageDir(pkg string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(goCommand(), "list", "-f", "{{.Dir}}", pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("go list %s: %w\n%s", pkg, err, ee.Stderr)
		}
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// maxBootAttempts bounds retries of runs that the emulator, not the code
// under test, broke.
const maxBootAttempts = 3

// bootRetryingEmulatorFaults boots k, and boots it again (at most
// maxBootAttempts times in all) when the guest console shows the guest
// kernel crashing. QEMU 7.2's TCG corrupts guest state on a fraction of boots
// of Debian's 6.12 kernel — general protection faults at the iretq of
// do_sync_core, double faults in kmalloc, NULL dereferences in the scheduler,
// at random places ~1.5 s into boot, mostly before init runs — and a Go
// binary hit by the same corruption dies with SIGSEGV code=0x80 (SI_KERNEL).
// Those are results about the emulator. A crash the code under test causes
// repeats on every attempt, so it still fails the test; each retry is logged.
func bootRetryingEmulatorFaults(t *testing.T, img *image, k Kernel, o Options) (Result, error) {
	t.Helper()
	var res Result
	var err error
	for attempt := 1; attempt <= maxBootAttempts; attempt++ {
		res, err = img.boot(context.Background(), k, o)
		fault := emulatorFault(res.Output)
		if fault == "" || (err == nil && res.ExitCode == 0) {
			return res, err
		}
		t.Logf("%s: attempt %d of %d: guest crashed (%s); treating it as an emulator fault and booting again", k, attempt, maxBootAttempts, fault)
	}
	return res, err
}

// emulatorFault returns the console line that shows the guest kernel (or a
// guest process, by a kernel-sent SIGSEGV) was hit by emulation faults, or "".
func emulatorFault(console string) string {
	for _, line := range strings.Split(console, "\n") {
		switch {
		case strings.Contains(line, "Oops:"),
			strings.Contains(line, "BUG: kernel"),
			strings.Contains(line, "Kernel panic"),
			strings.Contains(line, "signal SIGSEGV: segmentation violation code=0x80"):
			return strings.TrimSpace(line)
		}
	}
	return ""
}
