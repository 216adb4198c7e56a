//go:build linux

package runvm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/internal/vmtest"
)

// guestWalk is the walk helper in the guest.
const guestWalk = "/usr/local/bin/walk"

// TestKernelModeUnderBPFLSM is a guest half: with the BPF LSM active,
// capfd run's kernel mode marks the program and lets the kernel answer its
// stats and read-only opens in the view, with no BPF LSM denial of the
// view's own objects, and the answers are the direct run's. The workload
// (walk: lstat and read every file of a tree, timing its own loop, so the
// start-up is not counted) runs directly, in kernel mode and brokered,
// alternating, and the medians' ratios to the direct run are logged: under
// TCG only ratios mean anything, and they are not asserted.
func TestKernelModeUnderBPFLSM(t *testing.T) {
	vmtest.RequireVM(t)
	if err := lsm.Probe(); err != nil {
		t.Fatalf("the guest kernel boots with lsm=%s, yet: %v", vmtest.KernelLSMs, err)
	}
	tree := t.TempDir()
	for d := range 10 {
		dir := filepath.Join(tree, fmt.Sprintf("d%02d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 40 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", f)), bytes.Repeat([]byte("x"), 1024), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	workload := []string{guestWalk, tree, "3"}
	confined := func(mode string) []string {
		return append([]string{guestCapfd, "run", "-v", "--mode", mode, "--no-default-profile",
			"--grant", tree + "=ro", "--grant", guestWalk + "=rx", "--"}, workload...)
	}
	arms := []struct {
		name string
		argv []string
		// logs must be in capfd run -v's stderr.
		logs []string
	}{
		{"direct", workload, nil},
		{"kernel", confined("kernel"), []string{"kernel mode: the kernel answers", "BPF LSM: marked pid ", "BPF LSM denials: none\n"}},
		{"brokered", confined("brokered"), []string{"BPF LSM: marked pid ", "BPF LSM denials: none\n"}},
	}
	const rounds = 3
	times := map[string][]float64{}
	want := ""
	for round := range rounds {
		for _, a := range arms {
			cmd := exec.Command(a.argv[0], a.argv[1:]...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\nstderr:\n%s", a.name, err, stderr.String())
			}
			seen, timing, _ := strings.Cut(stdout.String(), "\n")
			var ns float64
			if _, err := fmt.Sscanf(timing, "ns %g", &ns); err != nil {
				t.Fatalf("%s: no timing in %q", a.name, stdout.String())
			}
			times[a.name] = append(times[a.name], ns)
			if want == "" {
				want = seen
			}
			if seen != want {
				t.Errorf("%s, round %d: %q, want %q", a.name, round, seen, want)
			}
			for _, l := range a.logs {
				if !strings.Contains(stderr.String(), l) {
					t.Errorf("%s: capfd run -v stderr lacks %q:\n%s", a.name, l, stderr.String())
				}
			}
		}
	}
	median := func(d []float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	direct := median(times["direct"])
	t.Logf("walk of %s files, 3 times, its own loop (start-up excluded), medians of %d rounds under TCG: kernel/direct %.2f, brokered/direct %.2f",
		strings.Fields(want)[0], rounds, median(times["kernel"])/direct, median(times["brokered"])/direct)
}
