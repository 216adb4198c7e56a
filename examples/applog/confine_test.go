package main

import (
	"errors"
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
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/examples/internal/exampletest"
)

func TestMain(m *testing.M) {
	exampletest.MainIfChild(main)
	if mode := os.Getenv(envAttack); mode != "" {
		os.Exit(attackChild(mode))
	}
	code := m.Run()
	exampletest.RemoveBuilt()
	os.Exit(code)
}

// Environment of an attack child: the mode it sets the logger up in, and
// the log directory.
const (
	envAttack = "APPLOG_TEST_ATTACK"
	envDir    = "APPLOG_TEST_DIR"
)

// The ways a logger process is run, as applog runs them.
const (
	modeFree     = "unconfined"
	modeConfined = "applog -confine"           // Landlock and seccomp
	modeBrokered = "capfd run, applog -broker" // the launcher's broker holds the log
)

// errNoDescriptor: the attack needs a descriptor of the log, and the
// process holds none.
var errNoDescriptor = errors.New("no descriptor of the log in this process")

// forgeAt writes over the start of the log through fd, and closes fd.
func forgeAt(fd int, err error) error {
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Pwrite(fd, []byte("FORGED"), 0)
	return err
}

// withFd runs attack on the log's descriptor, if the process has one.
func withFd(attack func(fd int) error) func(fd int, path string) error {
	return func(fd int, _ string) error {
		if fd < 0 {
			return errNoDescriptor
		}
		return attack(fd)
	}
}

func magicLink(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// rawAttacks are what code inside the logger process can do to the log
// with raw system calls, going around capfd: fd is a descriptor of the
// log the process holds (found by scanning, as an attacker would; -1 if
// none), path the log's path.
var rawAttacks = []struct {
	name string
	run  func(fd int, path string) error
	// confineGap: applog -confine (Landlock and seccomp) does not stop
	// it. Landlock has one access for write and append, so these need
	// BPF LSM or a broker. Everything is stopped under capfd run.
	confineGap bool
}{
	{"reopen /proc/self/fd/N read-write", withFd(func(fd int) error {
		return forgeAt(unix.Open(magicLink(fd), unix.O_RDWR|unix.O_CLOEXEC, 0))
	}), false},
	{"reopen /proc/self/fd/N with O_TRUNC", withFd(func(fd int) error {
		nfd, err := unix.Open(magicLink(fd), unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(nfd)
		}
		return err
	}), false},
	{"truncate /proc/self/fd/N", withFd(func(fd int) error {
		return unix.Truncate(magicLink(fd), 0)
	}), false},
	{"ftruncate the descriptor", withFd(func(fd int) error {
		return unix.Ftruncate(fd, 0)
	}), false},
	{"punch a hole through the descriptor", withFd(func(fd int) error {
		return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, int64(len(history)))
	}), false},
	{"open the log path read-write", func(_ int, path string) error {
		return forgeAt(unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0))
	}, false},
	{"truncate the log path", func(_ int, path string) error {
		return unix.Truncate(path, 0)
	}, false},
	{"unlink the log", func(_ int, path string) error {
		return unix.Unlink(path)
	}, false},
	{"rename a forged log over it", func(_ int, path string) error {
		forged := path + ".forged"
		if err := os.WriteFile(forged, []byte("FORGED\n"), 0o640); err != nil {
			return err
		}
		return unix.Rename(forged, path)
	}, false},
	{"reopen /proc/self/fd/N write-only without O_APPEND", withFd(func(fd int) error {
		return forgeAt(unix.Open(magicLink(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0))
	}), true},
	{"clear O_APPEND on the descriptor with fcntl", withFd(func(fd int) error {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return err
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_APPEND); err != nil {
			return err
		}
		_, err = unix.Pwrite(fd, []byte("FORGED"), 0)
		return err
	}), true},
	{"open the log path write-only without O_APPEND", func(_ int, path string) error {
		return forgeAt(unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0))
	}, true},
}

// findDescriptor returns a descriptor of this process open on the file at
// path, or -1. It looks at every descriptor, as an attacker in the
// process would, rather than asking the logger.
func findDescriptor(path string) int {
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return -1
	}
	for fd := 0; fd < 1024; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			return fd
		}
	}
	return -1
}

// attackChild is a compromised logger: it sets up exactly as applog does
// in mode, then, for each raw attack i, writes history to dir/i/app.log
// and runs the attack on it, printing "i: outcome" on stdout. One process
// runs them all, since each attack touches only its own log.
func attackChild(mode string) int {
	dir := os.Getenv(envDir)
	open := func(i int) (*Logger, error) {
		return OpenLogger(filepath.Join(dir, strconv.Itoa(i)), "app.log")
	}
	switch mode {
	case modeConfined:
		if _, err := confine(dir); err != nil {
			fmt.Printf("setup: %v\n", err)
			return 1
		}
	case modeBrokered:
		remote, err := capfd.FromEnv()
		if err != nil {
			fmt.Printf("setup: %v\n", err)
			return 1
		}
		defer remote.Close()
		open = func(i int) (*Logger, error) {
			return OpenBrokeredLogger(remote, filepath.Join(dir, strconv.Itoa(i)), "app.log")
		}
	}
	for i, a := range rawAttacks {
		lg, err := open(i)
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
		path := filepath.Join(dir, strconv.Itoa(i), "app.log")
		outcome := "done"
		if err := a.run(findDescriptor(path), path); err != nil {
			outcome = "refused: " + err.Error()
		}
		fmt.Printf("%d: %s\n", i, outcome)
		lg.Close()
	}
	return 0
}

// runAttacks runs every raw attack in one logger process set up in mode
// and returns each one's outcome and the log it left.
func runAttacks(t *testing.T, mode string) (outcomes, logs []string) {
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
	argv := []string{exe}
	if mode == modeBrokered {
		// The test binary needs exec (Landlock) and the log directory the
		// rights applog documents for -broker; nothing else is granted.
		// Each attack's directory is a grant of its own, as a log
		// directory is: the log file is an entry of it (rights follow
		// the object, so a subdirectory of a grant would hold only the
		// inherit rights, append and stat, and could not get the file).
		argv = append([]string{exampletest.BuildCapfd(t)}, exampletest.CapfdRun(envAttack, envDir)...)
		argv = append(argv, "--grant", filepath.Dir(exe)+"=rx")
		for i := range rawAttacks {
			argv = append(argv, "--grant", filepath.Join(dir, strconv.Itoa(i))+"=lookup,create,stat:append,stat")
		}
		argv = append(argv, "--", exe)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = exampletest.ChildEnv(envAttack+"="+mode, envDir+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != len(rawAttacks) {
		t.Fatalf("attack child (%s): %v:\n%s\n%s", mode, err, out, stderr.String())
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

// TestRawAttacks is the part the library cannot do: code in the logger
// process that makes raw system calls. Every attack runs in an unconfined
// logger, where it rewrites history (so the attack is real); in one run
// with -confine (Landlock and seccomp), where the kernel refuses all but
// the three that write without O_APPEND (their outcome there is logged,
// not asserted: see confine); and in one run under capfd run with
// -broker, where every one is refused and history is intact.
func TestRawAttacks(t *testing.T) {
	if _, err := landlock.Probe(); err != nil {
		t.Skipf("Landlock is not available: %v", err)
	}
	if err := seccomp.Probe(); err != nil {
		t.Skipf("seccomp filters are not available: %v", err)
	}
	free, freeLogs := runAttacks(t, modeFree)
	confined, confinedLogs := runAttacks(t, modeConfined)
	brokered, brokeredLogs := runAttacks(t, modeBrokered)
	for i, a := range rawAttacks {
		t.Run(a.name, func(t *testing.T) {
			if free[i] != "done" || freeLogs[i] == history {
				t.Errorf("unconfined: %s, log %q; want the attack to rewrite history", free[i], freeLogs[i])
			}
			check := func(mode, outcome, log string) {
				if !strings.HasPrefix(outcome, "refused:") || log != history {
					t.Errorf("%s: %s, log %q; want refused and history intact", mode, outcome, log)
				} else {
					t.Logf("%s: %s", mode, outcome)
				}
			}
			if a.confineGap {
				t.Logf("%s (append-only is beyond Landlock): %s, log %q", modeConfined, confined[i], confinedLogs[i])
			} else {
				check(modeConfined, confined[i], confinedLogs[i])
			}
			check(modeBrokered, brokered[i], brokeredLogs[i])
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

// TestCommandBrokered runs applog -broker under capfd run, as its doc
// says to: the log is appended to through the launcher's broker.
func TestCommandBrokered(t *testing.T) {
	if err := seccomp.Probe(); err != nil {
		t.Skipf("seccomp user notification is not available: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeHistory(t, dir)
	cmd := exampletest.CommandIn(t, exampletest.BuildCapfd(t), append(exampletest.CapfdRun(),
		"--grant", filepath.Dir(exe)+"=rx",
		"--grant", dir+"=lookup,create,stat:append,stat",
		"--", exe, "-broker", "-dir", dir)...)
	cmd.Stdin = strings.NewReader("one\ntwo\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "appended 2 lines") {
		t.Fatalf("capfd run -- applog -broker: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(readLog(t, dir), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(readLog(t, dir), history) ||
		!strings.HasSuffix(lines[2], " one") || !strings.HasSuffix(lines[3], " two") {
		t.Errorf("log after applog -broker: %q", lines)
	}

	// A grant without the logger's rights is a plain error, not a
	// logger that quietly holds less (or more).
	cmd = exampletest.CommandIn(t, exampletest.BuildCapfd(t), append(exampletest.CapfdRun(),
		"--grant", filepath.Dir(exe)+"=rx", "--grant", dir+"=ro",
		"--", exe, "-broker", "-dir", dir)...)
	cmd.Stdin = strings.NewReader("three\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not capable") {
		t.Errorf("applog -broker with a read-only grant: %v\n%s", err, out)
	}
}
