package run

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capfd/capfd/internal/testwait"
	"golang.org/x/sys/unix"
)

// fifoThreads is more than the 64 workers the supervisor's pool once had:
// with one worker per blocked open, the 65th open stalled the sandbox.
const fifoThreads = 70

// TestBlockedOpens: threads blocked in FIFO opens must not stop other opens
// being answered, must all complete when their other ends appear, and must
// not keep capfd run alive once the program is gone, however it ends.
func TestBlockedOpens(t *testing.T) {
	requireRun(t)
	if bin.fifostress == "" {
		t.Skip("no C compiler to build testdata/fifostress (scripts/setup.sh installs gcc)")
	}
	t.Run("the rest is served, then every open completes", func(t *testing.T) {
		p := startFifoStress(t, "go")
		p.expectLine(t, "served")
		p.expectLine(t, fmt.Sprintf("done %d", fifoThreads))
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit %d\nstderr: %s", code, p.stderr)
		}
	})
	t.Run("program killed while its opens wait", func(t *testing.T) {
		p := startFifoStress(t, "die")
		p.expectLine(t, "served")
		syscall.Kill(p.prog, syscall.SIGKILL)
		if code := p.wait(t); code != 128+int(syscall.SIGKILL) {
			t.Fatalf("exit %d, want %d\nstderr: %s", code, 128+int(syscall.SIGKILL), p.stderr)
		}
	})
	t.Run("SIGTERM to capfd run while the opens wait", func(t *testing.T) {
		p := startFifoStress(t, "die")
		p.expectLine(t, "served")
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t); code != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit %d, want %d\nstderr: %s", code, 128+int(syscall.SIGTERM), p.stderr)
		}
	})
}

type fifoStress struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr *strings.Builder
	prog   int // host pid of fifostress
}

// startFifoStress starts testdata/fifostress under capfd run with
// fifoThreads FIFOs, waits (polling /proc, bounded) until every one of its
// threads is inside openat, and then sends it line.
func startFifoStress(t *testing.T, line string) *fifoStress {
	t.Helper()
	dir := mkdir(t, filepath.Join(t.TempDir(), "fifos"))
	for i := range fifoThreads {
		if err := unix.Mkfifo(filepath.Join(dir, fmt.Sprintf("p%d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), []byte("plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin.capfd, "run", "-q", "--grant", dir+"=rw", "--grant", bin.dir+"=rx", "--",
		bin.fifostress, dir, fmt.Sprint(fifoThreads))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &fifoStress{cmd: cmd, out: bufio.NewReader(stdout), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.prog != 0 {
			syscall.Kill(p.prog, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	p.expectLine(t, "blocked")
	allInOpenat := func() bool {
		if p.prog == 0 {
			for _, pid := range descendants(t, cmd.Process.Pid) {
				if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "fifostress\n" {
					p.prog = pid
				}
			}
		}
		return p.prog != 0 && threadsIn(p.prog, unix.SYS_OPENAT) >= fifoThreads
	}
	if !testwait.For(20*time.Second, allInOpenat) {
		t.Fatalf("the %d threads never all waited in openat (program pid %d)\nstderr: %s", fifoThreads, p.prog, p.stderr)
	}
	if _, err := io.WriteString(stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
	return p
}

// expectLine reads one line, bounded: a supervisor that stalls shows as a
// failure, not a hung test.
func (p *fifoStress) expectLine(t *testing.T, want string) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := p.out.ReadString('\n')
		got <- strings.TrimSuffix(line, "\n")
	}()
	select {
	case line := <-got:
		if line != want {
			t.Fatalf("program printed %q, want %q\nstderr: %s", line, want, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("program did not print %q within 30 s: the sandbox stalled\nstderr: %s", want, p.stderr)
	}
}

// wait returns capfd run's exit status, bounded: a launcher that outlives
// its program is a failure.
func (p *fifoStress) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatalf("capfd run still running 30 s after its program ended\nstderr: %s", p.stderr)
		return -1
	}
}

// threadsIn counts pid's threads blocked in system call nr.
func threadsIn(pid, nr int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	n := 0
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		if first, _, _ := strings.Cut(string(b), " "); first == fmt.Sprint(nr) {
			n++
		}
	}
	return n
}
