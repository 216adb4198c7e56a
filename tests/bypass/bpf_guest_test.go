//go:build linux

package bypass

import (
	"testing"

	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/internal/vmtest"
)

// TestBPFLSM runs the bypass suite against the BPF LSM backend. It runs
// where BPF LSM works, which in this project is the vmtest guest
// (vm_test.go boots it); there the backend must be available, and
// elsewhere the suite skips naming the missing feature.
func TestBPFLSM(t *testing.T) {
	requireBPFLSMInVM(t)
	t.Cleanup(func() {
		if err := BPFLSM.Close(); err != nil {
			t.Error(err)
		}
	})
	RunSuite(t, BPFLSM)
}

// TestBPFLSMIsolation: only the marked child of two siblings is confined.
func TestBPFLSMIsolation(t *testing.T) {
	requireBPFLSMInVM(t)
	t.Cleanup(func() {
		if err := BPFLSM.Close(); err != nil {
			t.Error(err)
		}
	})
	RunIsolation(t, BPFLSM)
}

// requireBPFLSMInVM turns "BPF LSM missing" from a skip into a failure
// inside the VM, whose kernels are chosen because they have it.
func requireBPFLSMInVM(t *testing.T) {
	t.Helper()
	if vmtest.InVM() {
		if err := lsm.Probe(); err != nil {
			t.Fatalf("BPF LSM must work in the vmtest guest: %v", err)
		}
	}
}
