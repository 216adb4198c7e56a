package run

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capfd/capfd/internal/testwait"
	"golang.org/x/sys/unix"
)

// TestTreeDiesWithLauncher: a launcher killed outright (SIGKILL: no chance
// to forward anything or clean up) must not leave any process of its
// program's tree running, with nobody answering its path syscalls. The
// program starts two background sleeps. Without a PID namespace
// (CAPFD_RUN_NO_NAMESPACE=1, as on a host that allows none) the
// parent-death signal reaches only the direct child and both sleeps
// outlive the launcher: the failure is real. By default, with the tree in
// a PID namespace whose init dies with the launcher, none survives. Also
// as an unprivileged user, where the namespace comes with a user namespace.
func TestTreeDiesWithLauncher(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	prog := []string{"/bin/sh", "-c", "/bin/sleep 300 & /bin/sleep 300 & echo ready; wait"}
	t.Run("without a namespace the sleeps survive", func(t *testing.T) {
		tree := startTree(t, f.root, []string{"CAPFD_RUN_NO_NAMESPACE=1"}, nil, prog)
		if !strings.Contains(tree.stderr(), "warning: no PID namespace") {
			t.Errorf("no warning about the missing namespace: %q", tree.stderr())
		}
		survivors := tree.killLauncher(t)
		for _, p := range survivors {
			syscall.Kill(p, syscall.SIGKILL)
		}
		if len(survivors) < 2 {
			t.Fatalf("%d of the tree survived without a namespace, want both sleeps: the control shows nothing", len(survivors))
		}
	})
	t.Run("in a PID namespace none survives", func(t *testing.T) {
		tree := startTree(t, f.root, nil, nil, prog)
		if s := tree.killLauncher(t); len(s) != 0 {
			t.Fatalf("processes %v outlived the launcher", s)
		}
	})
	t.Run("unprivileged, in a user and PID namespace none survives", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to switch to an unprivileged user")
		}
		allowUnprivileged(t, f.root)
		tree := startTree(t, f.root, nil, &syscall.Credential{Uid: 65534, Gid: 65534}, prog)
		if s := tree.killLauncher(t); len(s) != 0 {
			t.Fatalf("processes %v outlived the launcher", s)
		}
	})
}

// procTree is a running `capfd run` and the processes below it.
type procTree struct {
	cmd     *exec.Cmd
	errBuf  *syncBuffer
	members map[int]int // host pid -> pidfd, every descendant of the launcher
}

func (p *procTree) stderr() string { return p.errBuf.String() }

// syncBuffer is a strings.Builder that the goroutine exec copies stderr
// with may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTree runs prog under capfd run (no grants: sh and sleep come from
// the default profile) and returns once it has printed "ready", by which
// time every process it starts exists. Each descendant of the launcher is
// held by a pidfd, so its death is observed, not guessed, and a recycled
// pid can never be mistaken for it.
func startTree(t *testing.T, dir string, env []string, cred *syscall.Credential, prog []string) *procTree {
	t.Helper()
	cmd := exec.Command(bin.capfd, append([]string{"run", "--"}, prog...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	errBuf := &syncBuffer{}
	cmd.Stderr = errBuf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tree := &procTree{cmd: cmd, errBuf: errBuf, members: map[int]int{}}
	t.Cleanup(func() {
		// Survivors first: they hold the stdout pipe that Wait drains.
		for p, fd := range tree.members {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			unix.Close(fd)
			delete(tree.members, p)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("program did not start: %q, %v\nstderr: %s", line, err, errBuf)
	}
	// The program is ready once both sleeps are asleep: before that a
	// sleep still loading its libraries would die of the launcher's
	// death (its path syscalls answered by nobody), not of the tree
	// being ended, and the control would show nothing. Polled, bounded.
	var all []int
	bothAsleep := func() bool {
		asleep := 0
		all = descendants(t, cmd.Process.Pid)
		for _, p := range all {
			if inNanosleep(p) {
				asleep++
			}
		}
		return asleep >= 2
	}
	if !testwait.For(10*time.Second, bothAsleep) {
		t.Fatalf("the two sleeps never went to sleep (tree %v)\nstderr: %s", all, errBuf)
	}
	for _, p := range all {
		if fd, err := unix.PidfdOpen(p, 0); err == nil {
			tree.members[p] = fd
		}
	}
	return tree
}

// killLauncher SIGKILLs capfd run, reaps it, and returns the members of its
// tree still alive once every member that is going to die has (each pidfd
// becomes readable when its process exits). The wait is bounded; what is
// still alive after it is a survivor.
func (p *procTree) killLauncher(t *testing.T) []int {
	t.Helper()
	p.cmd.Process.Kill()
	// Process.Wait, not Cmd.Wait: that would also wait for the stdout
	// pipe, which survivors keep open.
	p.cmd.Process.Wait()
	deadline := time.Now().Add(3 * time.Second)
	var alive []int
	for pid, fd := range p.members {
		for {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			left := time.Until(deadline)
			if left < 0 {
				left = 0
			}
			n, err := unix.Poll(pfd, int(left.Milliseconds()))
			if err == unix.EINTR {
				continue
			}
			if n == 0 {
				alive = append(alive, pid)
			}
			break
		}
	}
	return alive
}

// descendants lists every process below pid (host pids), from /proc.
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

// inNanosleep reports whether pid is blocked in nanosleep or
// clock_nanosleep (amd64 numbers), from /proc/PID/syscall.
func inNanosleep(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	nr, _, _ := strings.Cut(string(b), " ")
	return nr == strconv.Itoa(unix.SYS_NANOSLEEP) || nr == strconv.Itoa(unix.SYS_CLOCK_NANOSLEEP)
}

// allowUnprivileged makes the test binaries and the directory root (a
// t.TempDir, so its parent too) reachable for uid 65534.
func allowUnprivileged(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{bin.dir, filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInitIsQuiet: stage 2, the namespace's init, runs under the program's
// filter; the Go runtime's once-a-second re-reading of the cgroup CPU limit
// (Go 1.25+) was refused there and logged as the program's ("not capable:
// open /sys/devices/system/cpu/online"). A program that makes no refused
// call and outlives that period logs nothing.
func TestInitIsQuiet(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	o := capfdRun(t, f.root, f.grants(), "sh", "-c", "sleep 1.5")
	if o.code != 0 || o.stderr != "" {
		t.Fatalf("exit %d, stderr %q, want a silent run", o.code, o.stderr)
	}
}
