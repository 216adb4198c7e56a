// Package childtest runs a test scenario in a fresh copy of the test binary
// and returns what it observed. Tests of code that changes the calling
// process for good (a seccomp filter, a Landlock domain) need it: installed
// in the test process itself, the restriction would outlive the test.
//
// The child is the same test binary with -test.run=^$ and extra environment;
// the package's TestMain recognises that environment, runs the scenario, and
// writes a Report to standard output as one JSON object.
package childtest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Report is what a child saw: each observation is "ok", an errno name, or
// another error's text.
type Report map[string]string

// Outcome names err the way a Report records it.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// Run starts the test binary with env added to its environment and decodes
// its Report. A child killed by a signal returns that signal and a nil
// Report, so a test can expect a kill; any other failure fails the test.
func Run(t testing.TB, env ...string) (Report, syscall.Signal) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return nil, ws.Signal()
		}
	}
	if err != nil {
		t.Fatalf("child %q: %v", env, err)
	}
	var r Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child %q: bad report %q: %v", env, out, err)
	}
	return r, 0
}

// Main is a TestMain for packages whose children run a scenario: when env
// is set, the process is a child started by Run, so it runs scenario with
// env's value, writes the Report to standard output and exits (3 if the
// report cannot be written); otherwise it runs the tests.
func Main(m *testing.M, env string, scenario func(value string) Report) {
	if value := os.Getenv(env); value != "" {
		if err := json.NewEncoder(os.Stdout).Encode(scenario(value)); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
