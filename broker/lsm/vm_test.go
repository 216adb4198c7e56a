//go:build linux

package lsm

import (
	"os"
	"strings"
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// envGuestArgs passes extra test flags to the guest, e.g.
// CAPFD_LSM_GUEST_ARGS="-test.run=TestHooks -test.bench=." to focus a run or
// to run the benchmarks inside the VM.
const envGuestArgs = "CAPFD_LSM_GUEST_ARGS"

// TestInVM runs this package's tests inside every kernel of the VM matrix
// (tests/vm/kernels.txt), where BPF LSM programs load and enforce. Inside the
// guest it skips, and the guest tests do the work.
func TestInVM(t *testing.T) {
	vmtest.RunPackageTests(t, "github.com/capfd/capfd/broker/lsm", strings.Fields(os.Getenv(envGuestArgs))...)
}
