// Package realprog runs real, unmodified programs from Debian under `capfd
// run` with only their work directory granted, and compares what each did
// with a direct run: exit status, standard output and the work tree left
// behind.
//
// Each workload (matrix_test.go, one row each) runs twice, in a fresh work
// directory built by its setup at the same path both times (so output that
// names the path, or binaries that embed it, compare equal): once directly,
// once as `capfd run -q --grant WORK=rw [the row's documented flags] -- sh
// -c SCRIPT` (rw,exec for a row that runs what it builds). Both runs get the
// same small environment (PATH=/usr/bin:/bin, HOME and TMPDIR inside the
// work directory, LC_ALL=C, TZ=UTC), which capfd run's allow-list passes
// through unchanged. A row whose program is missing is
// skipped, naming it; scripts/setup.sh installs the Debian packages.
//
// A row that differs today carries knownFailure, the reason (an issue-13
// class: what the sandbox lacks); the test then asserts it still differs,
// so a fix that makes it pass fails here until the row is updated. The
// summary line `realprog: N of M workloads identical to a direct run` is
// the matrix's state. TestDirectRunsAgree is the control: every row run
// directly twice does the same, so a difference is capfd's, not the row's
// own noise. `go test ./tests/realprog -args -realprog.v` runs
// capfd with -v instead of -q and logs its refusals for each differing row.
package realprog

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/capfd/capfd/tests/internal/runsuite"
)

var verbose = flag.Bool("realprog.v", false, "run capfd with -v and log its refusals for rows that differ")

// bin holds capfd, built once for the package.
var bin struct {
	dir, capfd string
	err        error
}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "capfd-realprog-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// 0755: the rows run as uid 65534 must reach the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	bin.capfd = filepath.Join(dir, "capfd")
	bin.err = runsuite.Build(map[string]string{bin.capfd: "github.com/capfd/capfd/cmd/capfd"})
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRun(t testing.TB) {
	t.Helper()
	runsuite.Require(t, bin.err)
}

// outcome is what one run did.
type outcome struct {
	stdout, stderr string
	code           int
	tree           string // describe(work) after the run
}

// nobody is the unprivileged user of the "as a user" rows.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// runTimeout bounds one run: a workload that hangs under capfd fails
// instead of stalling the package.
const runTimeout = 90 * time.Second

// env is the whole environment of both runs, for the work directory work.
func env(work string) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + work,
		"TMPDIR=" + filepath.Join(work, "tmp"),
		"LC_ALL=C",
		"TZ=UTC",
	}
}

// run runs argv in work with env(work), as cred when not nil.
func run(t *testing.T, work string, cred *syscall.Credential, argv ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = work
	cmd.Env = env(work)
	cmd.WaitDelay = 5 * time.Second
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		o.code = -1
		o.stderr += fmt.Sprintf("\n[realprog: killed after %v]", runTimeout)
	case errors.As(err, &exit):
		o.code = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.code = 128 + int(ws.Signal())
		}
	case err != nil:
		t.Fatalf("%v: %v", argv, err)
	}
	return o
}
