package bypass

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// TestLandlockSeccompInVM runs the landlock+seccomp suite inside the Debian
// kernels of the VM matrix, Landlock ABI 2 (6.1) and 6 (6.12), where Gaps
// must match what those ABIs can and cannot refuse. The guest has no libc:
// it gets /bin/true, its loader and libc at the paths the ELF asks for.
func TestLandlockSeccompInVM(t *testing.T) {
	if vmtest.InVM() {
		t.Skip("already inside the VM")
	}
	kernels, err := vmtest.Kernels()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := vmtest.BuildTestBinary("github.com/capfd/capfd/tests/bypass")
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{}
	for _, guest := range []string{"/usr/bin/true", "/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6"} {
		host := guest
		if _, err := os.Stat(host); err != nil {
			host = filepath.Join("/usr", guest) // merged /usr on the host
		}
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			t.Skipf("host file for the guest's %s missing: %v", guest, err)
		}
		extra[guest] = real
	}
	vmtest.RunOnKernels(t, kernels, vmtest.Options{
		TestBinary: bin,
		Args:       []string{"-test.v", "-test.run=^TestLandlockSeccomp"},
		ExtraFiles: extra,
	})
}
