package differential

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

// runBackend is the `capfd run` supervisor in the brokered mode
// (broker/notify, with the Landlock exec restriction it adds; the kernel
// mode is kernelRunBackend): the real capfd binary runs op.c,
// unmodified, with --grant per case (and on n/ for the nested shape).
// Many cases share one run, each in its own granted fixture, since the
// supervisor decides per path; the batch keeps the suite fast.
type runBackend struct{}

func (runBackend) Name() string { return "capfd-run" }

func (runBackend) Available() error {
	if bins.err != nil {
		return bins.err
	}
	if bins.op == "" {
		return fmt.Errorf("op.c not built (no C compiler with static libc)")
	}
	return seccomp.Probe()
}

func (runBackend) Inexpressible(*Case) string { return "" }

const runBatch = 100

func (runBackend) Run(t *testing.T, cases []*Case, roots []string) []string {
	out := make([]string, 0, len(cases))
	for start := 0; start < len(cases); start += runBatch {
		end := min(start+runBatch, len(cases))
		out = append(out, runCapfdBatch(t, "brokered", cases[start:end], roots[start:end])...)
	}
	return out
}

// grantLine is a `capfd run` grant: PATH=BASE[:INHERIT].
func grantLine(path string, p rights.Pair) string { return path + "=" + p.String() }

// runCapfdBatch runs cases in one `capfd run --mode mode`.
func runCapfdBatch(t *testing.T, mode string, cases []*Case, roots []string) []string {
	var grants, argv []string
	grants = append(grants, grantLine(filepath.Dir(bins.op), rights.Uniform(rights.ReadExec)))
	for i, c := range cases {
		grants = append(grants, grantLine(roots[i], c.Outer))
		if c.Nested {
			grants = append(grants, grantLine(filepath.Join(roots[i], "n"), c.Inner))
		}
		if i > 0 {
			argv = append(argv, ";")
		}
		argv = append(argv, c.Action.Argv(filepath.Join(roots[i], c.HandleDir()))...)
	}
	config := filepath.Join(t.TempDir(), "grants")
	if err := os.WriteFile(config, []byte(strings.Join(grants, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// --keep-caps: the chown cases give the file another owner
	// (chownUID), which takes CAP_CHOWN; what is tested is the rights,
	// and the capabilities only let the kernel do what they allow.
	cmd := exec.Command(bins.capfd, append([]string{"run", "--keep-caps", "--mode", mode, "--config", config, "--", bins.op}, argv...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("capfd run: %v\n%s", err, stderr.String())
	}
	return helperLines(t, stdout.String(), len(cases), stderr.String())
}

// helperLines splits op.c's output into one outcome per case.
func helperLines(t *testing.T, stdout string, n int, stderr string) []string {
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("op printed %d lines for %d operations:\n%s\nstderr:\n%s", len(lines), n, stdout, stderr)
	}
	return lines
}
