// Package exampletest runs an example's own main function in a child
// process, so that each example's test drives the real program end to end
// (its flags, its output, its exit status) without a separate "go build"
// step: the test binary re-executes itself with an environment variable
// that makes TestMain call the example's main instead of the tests.
//
// Every example's test has:
//
//	func TestMain(m *testing.M) { exampletest.Main(m, main) }
//
// or, if its TestMain has children of its own to recognise, calls
// MainIfChild first and RemoveBuilt after the tests.
package exampletest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envRunMain marks a child started by Command: its TestMain runs main.
const envRunMain = "CAPFD_EXAMPLE_RUN_MAIN"

// MainIfChild runs main and exits if this process is a child started by
// Command; otherwise it returns at once and the tests run.
func MainIfChild(main func()) {
	if os.Getenv(envRunMain) != "1" {
		return
	}
	// The example must not see the marker: if it starts a copy of itself
	// (to confine it, say), that copy decides for itself what to run.
	os.Unsetenv(envRunMain)
	main()
	os.Exit(0)
}

// Main is an example's TestMain: the example's main in a child started by
// Command, otherwise the tests, then RemoveBuilt.
func Main(m *testing.M, main func()) {
	MainIfChild(main)
	code := m.Run()
	RemoveBuilt()
	os.Exit(code)
}

// Command returns a command that runs the example's main with args, in a
// copy of the running test binary. It is killed when the test ends.
func Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	return CommandIn(t, exe, args...)
}

// CommandIn is Command running exe, a copy of the test binary (say, one
// placed where another user may execute it).
func CommandIn(t testing.TB, exe string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = ChildEnv(envRunMain + "=1")
	// Its own process group, so that ending the test ends the example's
	// children too (under capfd run the example is the launcher's child).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	// A child left holding the output pipes must not hang the test.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs the example with args to completion and returns its stdout and
// stderr. A non-zero exit is returned as err, not reported, so that tests
// can assert on failures.
func Run(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := Command(t, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// Start starts the example with args and returns the first line it prints
// on stdout (servers print their address there) and the running command.
// The process is killed and reaped when the test ends; its stderr is
// logged then, to explain a failure.
func Start(t testing.TB, args ...string) (firstLine string, cmd *exec.Cmd) {
	t.Helper()
	return StartCmd(t, Command(t, args...))
}

// StartCmd is Start for a command made by Command or CommandIn (say, the
// example run under capfd run).
func StartCmd(t testing.TB, cmd *exec.Cmd) (firstLine string, _ *exec.Cmd) {
	t.Helper()
	args := cmd.Args
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", args, err)
	}
	t.Cleanup(func() {
		stop(cmd)
		if s := stderr.String(); s != "" {
			t.Logf("stderr of %v:\n%s", args, s)
		}
	})

	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err != nil {
			line = fmt.Sprintf("<no line: %v>", err)
		}
		lines <- strings.TrimSpace(line)
		io.Copy(io.Discard, r) // never block the child on a full pipe
	}()
	select {
	case line := <-lines:
		return line, cmd
	case <-time.After(10 * time.Second):
		t.Fatalf("%v printed nothing on stdout within 10s", args)
		return "", nil
	}
}

// OpenFds counts the open file descriptors of process pid.
func OpenFds(t testing.TB, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("counting fds of %d: %v", pid, err)
	}
	return len(entries)
}

// CapfdRun is the start of a `capfd run` command line for a copy of the
// test binary: capability mode clears the environment, so the variables
// that make the copy run the example (and the race detector's setting,
// and names, the test's own) are passed on by name.
func CapfdRun(names ...string) []string {
	args := []string{"run", "-q", "--env", envRunMain, "--env", "GORACE"}
	for _, n := range names {
		args = append(args, "--env", n)
	}
	return args
}

// ChildEnv is the environment for a child process running a copy of the
// test binary: this one's, plus extra.
func ChildEnv(extra ...string) []string {
	env := os.Environ()
	if os.Getenv("GORACE") == "" {
		// Under -race a process waits a second at exit by default, for
		// goroutines still running; the examples' children would spend
		// most of their time doing that.
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return append(env, extra...)
}

// built is the capfd command BuildCapfd made for this test process.
var built struct {
	sync.Mutex
	dir, path string
}

// BuildCapfd builds the capfd command (cmd/capfd) once per test process
// and returns its path; the test is skipped if there is no go command to
// build with. TestMain removes it with RemoveBuilt.
func BuildCapfd(t testing.TB) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.path != "" {
		return built.path
	}
	//lint:ignore SA1019 the go command that built this test binary, on this machine, is the one to build with
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to build cmd/capfd with")
		}
	}
	dir, err := os.MkdirTemp("", "capfd-example-")
	if err != nil {
		t.Fatal(err)
	}
	// Others may need to run it (the sidecar's clients run as nobody).
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "capfd")
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/capfd/capfd/cmd/capfd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("building cmd/capfd: %v\n%s", err, b)
	}
	built.dir, built.path = dir, out
	return out
}

// RemoveBuilt removes what BuildCapfd built; TestMain calls it after the
// tests.
func RemoveBuilt() {
	built.Lock()
	defer built.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
		built.dir, built.path = "", ""
	}
}

// stop ends cmd: SIGTERM first, which capfd run passes on to the program
// it runs (a SIGKILL would end the launcher and leave the program
// running), then SIGKILL to its process group if it is still there.
func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		killGroup(cmd.Process)
		<-done
	}
}

// killGroup kills p's process group, if p leads one, and p.
func killGroup(p *os.Process) error {
	if pgid, err := syscall.Getpgid(p.Pid); err == nil && pgid == p.Pid {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return p.Kill()
}
