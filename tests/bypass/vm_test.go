package bypass

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// TestBPFLSMInVM runs the BPF LSM bypass suite inside the kernels of the VM
// matrix.
func TestBPFLSMInVM(t *testing.T) {
	runSuiteInVM(t, "^TestBPFLSM")
}

// TestLandlockSeccompInVM runs the landlock+seccomp suite inside the Debian
// kernels of the VM matrix, Landlock ABI 2 (6.1) and 6 (6.12), where Gaps
// must match what those ABIs can and cannot refuse.
func TestLandlockSeccompInVM(t *testing.T) {
	runSuiteInVM(t, "^TestLandlockSeccomp")
}

// runSuiteInVM runs this package's tests that match run inside the kernels
// vmtest.AvailableKernels selects. The guest has no libc, and the fixture's
// granted/prog is a copy of the host's dynamically linked /bin/true, so the
// guest gets true, its loader and libc at the paths the ELF asks for.
func runSuiteInVM(t *testing.T, run string) {
	t.Helper()
	if vmtest.InVM() {
		t.Skip("already inside the VM")
	}
	kernels := vmtest.AvailableKernels(t)
	bin, err := vmtest.BuildTestBinary("github.com/capfd/capfd/tests/bypass")
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{}
	for _, guest := range []string{
		"/usr/bin/true",
		"/lib64/ld-linux-x86-64.so.2",
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
	} {
		host, err := filepath.EvalSymlinks(hostPath(guest))
		if err != nil {
			t.Skipf("host file for the guest's %s missing: %v", guest, err)
		}
		extra[guest] = host
	}
	vmtest.RunOnKernels(t, kernels, vmtest.Options{
		TestBinary: bin,
		Args:       []string{"-test.v", "-test.run=" + run},
		ExtraFiles: extra,
	})
}

// hostPath finds guest path p on the host, where /usr may be merged.
func hostPath(p string) string {
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join("/usr", p)
}
