package enforce

import (
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// TestInVM runs this package's tests inside every kernel of the VM matrix
// (tests/vm/kernels.txt), where BPF LSM loads: there Setup(Auto) enforces
// and TestGuestClientCannotBypassBroker runs. Inside the guest it skips.
func TestInVM(t *testing.T) {
	vmtest.RunPackageTests(t, "github.com/capfd/capfd/broker/enforce")
}
