package landlock

import (
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// TestLandlockInVM runs this package's tests inside the stock Debian kernels
// of the VM matrix: Landlock ABI 2 (6.1) and 6 (6.12) next to the host's 7,
// so Restrict and its Report meet ABIs without TRUNCATE and IOCTL_DEV.
func TestLandlockInVM(t *testing.T) {
	vmtest.RunPackageTests(t, "github.com/capfd/capfd/broker/landlock", "-test.run=^Test(Restrict|Probe|Report|AccessFor)")
}
