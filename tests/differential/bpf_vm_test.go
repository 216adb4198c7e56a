package differential

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/capfd/capfd/internal/vmtest"
)

// Where the guest finds what the host passes in: op.c's static binary, and
// the repository's docs and package directories, laid out as in the tree
// so that gapDoc ("../../docs/rights-model.md") resolves from the package.
const (
	guestOp   = "/vmtest/op"
	guestRepo = "/vmtest/repo"
)

// guestTimeout bounds the guest test binary below the VM's own timeout
// (vmtest.DefaultTimeout), so that a hung guest test panics with its stacks
// on the console instead of being cut off by the host.
const guestTimeout = vmtest.DefaultTimeout - 30*time.Second

// TestDifferentialBPFInVM runs the matrix through the BPF LSM layer in
// the kernels of the VM matrix (vmtest.AvailableKernels): the host refuses
// BPF LSM programs, the guests' stock Debian kernels run them. Only the bpf-lsm layer runs in the
// guest: the others need cmd/capfd, built by Go, which the guest lacks,
// and are run on the host by TestDifferential.
func TestDifferentialBPFInVM(t *testing.T) {
	if vmtest.InVM() {
		t.Skip("already inside the VM")
	}
	kernels := vmtest.AvailableKernels(t)
	if bins.op == "" {
		// The guest has no compiler: op.c must be built here.
		vmtest.SkipOrFail(t, "op.c not built on the host (no C compiler with static libc)")
	}
	bin, err := vmtest.BuildTestBinary("github.com/capfd/capfd/tests/differential")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Abs(gapDoc)
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	vmtest.RunOnKernels(t, kernels, vmtest.Options{
		TestBinary: bin,
		Args: []string{
			"-test.v",
			"-test.timeout=" + guestTimeout.String(),
			"-test.run=^TestDifferential$/^bpf-lsm$",
		},
		Env: []string{envOp + "=" + guestOp},
		ExtraFiles: map[string]string{
			guestOp:                             bins.op,
			guestRepo + "/docs/rights-model.md": docs,
			// Also makes the working directory exist in the guest.
			guestRepo + "/tests/differential/testdata": testdata,
		},
		Dir: guestRepo + "/tests/differential",
	})
}
