package seccomp

import (
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// TestSeccompInVM runs this package's tests inside the stock Debian kernels
// of the VM matrix. They have IA32 emulation, which this project's hosts
// lack, so TestInstallKillsI386Entry runs there instead of skipping.
func TestSeccompInVM(t *testing.T) {
	vmtest.RunPackageTests(t, "github.com/capfd/capfd/broker/seccomp", "-test.run=^Test(Install|Probe|Assemble|RulesFor)")
}
