// Package childtest runs part of a test in a fresh copy of the test
// binary. Tests of code that changes the calling process for good (a
// seccomp filter, a Landlock domain, an exec, a mount in a namespace of its
// own) need it: done in the test process itself, the change would outlive
// the test or end the process.
//
// It has two shapes. Run starts the binary with -test.run=^$ and extra
// environment; the package's TestMain (Main) recognises the environment,
// runs a scenario, and writes a Report to standard output as one JSON
// object. A Child instead runs one test of the package, which tells from
// its environment that it is the child and checks what it sees with its
// own *testing.T; Pass then requires that test to have passed, so a child
// that skipped or matched no test cannot pass vacuously.
package childtest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
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

// Child is a copy of the test binary that runs the one test named Test.
type Child struct {
	// Test is the name of the test the child runs, as in func Test....
	Test string
	// Env is added to the child's environment; by it the test knows that
	// it runs in the child, and what to do there.
	Env []string
	// Wrapper, if set, is a command that runs the test binary's command
	// line, which follows it as its arguments (setpriv ... --).
	Wrapper []string
	// SysProcAttr, if set, starts the child with these attributes (new
	// namespaces); a system that refuses them skips the test.
	SysProcAttr *syscall.SysProcAttr
	// Exe, if set, is the copy of the test binary to run (one placed where
	// another user may execute it); by default, this one.
	Exe string
	// Dir, if set, is the child's working directory.
	Dir string
	// ExtraFiles are open files the child inherits, as descriptors 3 on.
	ExtraFiles []*os.File
}

// command is the child's command line with extra flags for the test binary.
func (c Child) command(flags ...string) *exec.Cmd {
	exe := c.Exe
	if exe == "" {
		exe = os.Args[0]
	}
	args := append(append(append([]string{}, c.Wrapper...), exe, "-test.run=^"+c.Test+"$"), flags...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.SysProcAttr = c.SysProcAttr
	cmd.Dir = c.Dir
	cmd.ExtraFiles = c.ExtraFiles
	return cmd
}

// Output runs the child, which need not pass (it may exec another program
// in its place), and returns its combined output and exit code. A child
// that cannot start fails the test, unless the system refuses SysProcAttr
// (EPERM, EINVAL, ENOSPC or EUSERS from the clone): then the test skips.
func (c Child) Output(t testing.TB) (string, int) {
	t.Helper()
	return c.run(t, c.command())
}

// Pass runs the child's test verbosely and returns its output; it fails
// the test unless the child ran its test and the test passed with nothing
// skipped. Starting is as for Output.
func (c Child) Pass(t testing.TB) string {
	t.Helper()
	out, code := c.run(t, c.command("-test.v"))
	switch {
	case code != 0:
		t.Fatalf("child %s %q: exit %d:\n%s", c.Test, c.Env, code, out)
	case strings.Contains(out, "--- SKIP"):
		t.Fatalf("child %s %q skipped:\n%s", c.Test, c.Env, out)
	case !strings.Contains(out, "--- PASS: "+c.Test+" "):
		t.Fatalf("child %s %q did not run its test:\n%s", c.Test, c.Env, out)
	}
	return out
}

func (c Child) run(t testing.TB, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		refused := errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) ||
			errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EUSERS)
		if c.SysProcAttr != nil && refused {
			t.Skipf("the system refuses the child's process attributes: %v", err)
		}
		t.Fatalf("child %s %q: %v", c.Test, c.Env, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
