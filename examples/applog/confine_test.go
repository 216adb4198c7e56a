package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/examples/internal/exampletest"
)

func TestMain(m *testing.M) {
	exampletest.MainIfChild(main)
	if os.Getenv(envAttack) != "" {
		os.Exit(attackChild())
	}
	os.Exit(m.Run())
}

// Environment of an attack child: set, the log directory, and whether
// to confine first.
const (
	envAttack  = "APPLOG_TEST_ATTACK"
	envDir     = "APPLOG_TEST_DIR"
	envConfine = "APPLOG_TEST_CONFINE"
)

// forgeAt writes over the start of the log through fd, and closes fd.
func forgeAt(fd int, err error) error {
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Pwrite(fd, []byte("FORGED"), 0)
	return err
}

func magicLink(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// rawAttacks are what code inside the logger process can do to the log
// with raw system calls, going around capfd: fd is the logger's own
// append-only descriptor, path the log's path.
var rawAttacks = []struct {
	name string
	run  func(fd int, path string) error
	// blocked: the kernel layer on this host (Landlock and seccomp)
	// refuses it. The others are the append-only gap: Landlock has one
	// access for write and append, so they need BPF LSM or a broker.
	blocked bool
}{
	{"reopen /proc/self/fd/N read-write", func(fd int, _ string) error {
		return forgeAt(unix.Open(magicLink(fd), unix.O_RDWR|unix.O_CLOEXEC, 0))
	}, true},
	{"reopen /proc/self/fd/N with O_TRUNC", func(fd int, _ string) error {
		nfd, err := unix.Open(magicLink(fd), unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(nfd)
		}
		return err
	}, true},
	{"truncate /proc/self/fd/N", func(fd int, _ string) error {
		return unix.Truncate(magicLink(fd), 0)
	}, true},
	{"ftruncate own fd", func(fd int, _ string) error {
		return unix.Ftruncate(fd, 0)
	}, true},
	{"punch a hole through own fd", func(fd int, _ string) error {
		return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, int64(len(history)))
	}, true},
	{"open the log path read-write", func(_ int, path string) error {
		return forgeAt(unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0))
	}, true},
	{"unlink the log", func(_ int, path string) error {
		return unix.Unlink(path)
	}, true},
	{"rename a forged log over it", func(_ int, path string) error {
		forged := path + ".forged"
		if err := os.WriteFile(forged, []byte("FORGED\n"), 0o640); err != nil {
			return err
		}
		return unix.Rename(forged, path)
	}, true},
	{"reopen /proc/self/fd/N write-only without O_APPEND", func(fd int, _ string) error {
		return forgeAt(unix.Open(magicLink(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0))
	}, false},
	{"clear O_APPEND on own fd with fcntl", func(fd int, _ string) error {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return err
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_APPEND); err != nil {
			return err
		}
		_, err = unix.Pwrite(fd, []byte("FORGED"), 0)
		return err
	}, false},
}

// attackChild is a compromised logger: it sets up exactly as applog does
// (confining itself to dir first if asked), then, for each raw attack i,
// writes history to dir/i/app.log and runs the attack on it, printing
// "i: outcome" on stdout. One process runs them all, since each attack
// touches only its own log, and starting a process per attack is slow.
func attackChild() int {
	dir := os.Getenv(envDir)
	if os.Getenv(envConfine) == "1" {
		if _, err := confine(dir); err != nil {
			fmt.Printf("setup: %v\n", err)
			return 1
		}
	}
	for i, a := range rawAttacks {
		sub := filepath.Join(dir, strconv.Itoa(i))
		lg, err := OpenLogger(sub, "app.log")
		if err == nil {
			err = lg.Append("history 1")
		}
		if err == nil {
			err = lg.Append("history 2")
		}
		if err != nil {
			fmt.Printf("setup: %v\n", err)
			return 1
		}
		outcome := "done"
		if err := a.run(int(lg.file.Fd()), filepath.Join(sub, "app.log")); err != nil {
			outcome = "refused: " + err.Error()
		}
		fmt.Printf("%d: %s\n", i, outcome)
		lg.Close()
	}
	return 0
}

// runAttacks runs every raw attack in one logger process and returns each
// one's outcome and the log it left.
func runAttacks(t *testing.T, confined bool) (outcomes, logs []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range rawAttacks {
		if err := os.Mkdir(filepath.Join(dir, strconv.Itoa(i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = exampletest.ChildEnv(envAttack+"=1", envDir+"="+dir, envConfine+"="+map[bool]string{true: "1"}[confined])
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != len(rawAttacks) {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("attack child (confined %v): %v:\n%s\n%s", confined, err, out, stderr)
	}
	for i, line := range lines {
		outcome, ok := strings.CutPrefix(line, strconv.Itoa(i)+": ")
		if !ok {
			t.Fatalf("attack child: line %d is %q", i, line)
		}
		outcomes = append(outcomes, outcome)
		logs = append(logs, readLog(t, filepath.Join(dir, strconv.Itoa(i))))
	}
	return outcomes, logs
}

// TestConfinedAgainstRawAttacks is the part the library cannot do: code in
// the logger process that makes raw system calls. Every attack runs in an
// unconfined logger process, where it rewrites history (so the attack is
// real), and in one confined by -confine's Landlock and seccomp, where the
// kernel refuses it and history is intact. The two drop-O_APPEND attacks
// are beyond this host's kernel layer; their confined outcome is logged,
// not asserted (see confine).
func TestConfinedAgainstRawAttacks(t *testing.T) {
	if _, err := landlock.Probe(); err != nil {
		t.Skipf("Landlock is not available: %v", err)
	}
	if err := seccomp.Probe(); err != nil {
		t.Skipf("seccomp filters are not available: %v", err)
	}
	freeOutcomes, freeLogs := runAttacks(t, false)
	confinedOutcomes, confinedLogs := runAttacks(t, true)
	for i, a := range rawAttacks {
		t.Run(a.name, func(t *testing.T) {
			if freeOutcomes[i] != "done" || freeLogs[i] == history {
				t.Errorf("unconfined: %s, log %q; want the attack to rewrite history", freeOutcomes[i], freeLogs[i])
			}
			outcome, log := confinedOutcomes[i], confinedLogs[i]
			if !a.blocked {
				t.Logf("confined (append-only gap of Landlock, needs BPF LSM or a broker): %s, log %q", outcome, log)
				return
			}
			if !strings.HasPrefix(outcome, "refused:") || log != history {
				t.Errorf("confined: %s, log %q; want refused and history intact", outcome, log)
			} else {
				t.Logf("confined: %s", outcome)
			}
		})
	}
}

// TestCommandConfined runs applog -confine itself: it appends what it is
// given and still works under its own confinement.
func TestCommandConfined(t *testing.T) {
	if _, err := landlock.Probe(); err != nil {
		t.Skipf("Landlock is not available: %v", err)
	}
	dir := t.TempDir()
	writeHistory(t, dir)
	cmd := exampletest.Command(t, "-dir", dir, "-confine")
	cmd.Stdin = strings.NewReader("one\ntwo\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("applog -confine: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "appended 2 lines") || !strings.Contains(string(out), "confined: landlock ABI") {
		t.Errorf("output:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(readLog(t, dir), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(readLog(t, dir), history) ||
		!strings.HasSuffix(lines[2], " one") || !strings.HasSuffix(lines[3], " two") {
		t.Errorf("log after applog -confine: %q", lines)
	}
}
