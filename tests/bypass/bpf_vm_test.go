//go:build linux

package bypass

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// TestBPFLSMInVM runs the BPF LSM bypass suite inside every kernel of the VM
// matrix. The guest has no libc, and the fixture's granted/prog is a copy of
// the host's dynamically linked /bin/true, so the guest gets true, its
// loader and libc at the paths the ELF asks for.
func TestBPFLSMInVM(t *testing.T) {
	if vmtest.InVM() {
		t.Skip("already inside the VM")
	}
	kernels, err := vmtest.Kernels()
	if err != nil {
		t.Fatal(err)
	}
	if sel := os.Getenv(vmtest.EnvKernels); sel != "" {
		names := strings.Split(sel, ",")
		kernels = slices.DeleteFunc(kernels, func(k vmtest.Kernel) bool { return !slices.Contains(names, k.Name) })
	}
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
		Args:       []string{"-test.v", "-test.run=^TestBPFLSM"},
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
