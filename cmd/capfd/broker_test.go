package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/lsm"
)

// TestBrokerKernelMode: the kernel mode is checked before anything is
// served, and require refuses to start on a kernel without BPF LSM, naming
// why.
func TestBrokerKernelMode(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "broker.yaml")
	write := func(extra string) {
		t.Helper()
		text := "socket: " + filepath.Join(dir, "broker.sock") + "\n" + extra
		if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	write("kernel: sometimes\n")
	if code, _, stderr := runForTest("broker", "--config", config); code != 2 || !strings.Contains(stderr, `kernel "sometimes"`) {
		t.Errorf("bad kernel mode in the config: exit %d, stderr %q", code, stderr)
	}
	write("")
	if code, _, stderr := runForTest("broker", "--config", config, "--kernel", "on"); code != 2 || !strings.Contains(stderr, `kernel mode "on"`) {
		t.Errorf("bad --kernel: exit %d, stderr %q", code, stderr)
	}

	probeErr := lsm.Probe()
	if probeErr == nil {
		t.Skip("BPF LSM loads on this kernel, so require would start serving; broker/enforce's guest tests cover that case")
	}
	write("kernel: require\n")
	code, _, stderr := runForTest("broker", "--config", config)
	if code != 1 || !strings.Contains(stderr, "require") || !strings.Contains(stderr, probeErr.Error()) {
		t.Errorf("kernel: require without BPF LSM: exit %d, stderr %q; want exit 1 naming %q", code, stderr, probeErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "broker.sock")); err == nil {
		t.Error("the broker created its socket although it refused to start")
	}
}
