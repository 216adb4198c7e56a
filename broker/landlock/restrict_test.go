package landlock

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/rights"
)

// Landlock cannot be lifted, so Restrict runs only in a re-exec of the test
// binary named by this variable; it prints a JSON report and exits.
const childEnv = "CAPFD_LANDLOCK_TEST_CHILD"

func TestMain(m *testing.M) {
	childtest.Main(m, childEnv, func(dir string) report {
		// The scenario and RestrictThread act on this thread.
		runtime.LockOSThread()
		restrict := Restrict
		if d, ok := strings.CutPrefix(dir, "thread:"); ok {
			dir = d
			restrict = func(g []Grant) (Report, error) { return RestrictThread(g, Ambient{}) }
		}
		return restrictScenario(dir, restrict)
	})
}

type report = childtest.Report

var outcome = childtest.Outcome

// fixture: dir/granted holds ro.txt and rw.txt; dir/outside is not granted.
func fixture(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{"granted", "outside"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"granted/ro.txt", "granted/rw.txt", "outside/secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("original"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fixtureGrants(dir string) []Grant {
	granted := filepath.Join(dir, "granted")
	return []Grant{
		{Path: granted, Rights: rights.Pair{Base: rights.Lookup | rights.Readdir | rights.Create, Inherit: rights.ReadOnly}},
		{Path: filepath.Join(granted, "ro.txt"), Rights: rights.Uniform(rights.ReadOnly)},
		{Path: filepath.Join(granted, "rw.txt"), Rights: rights.Uniform(rights.ReadWrite)},
	}
}

// attempts are the operations the scenario tries before and after Restrict.
// The ro.txt fd is opened before either run: it stands for an fd the
// process was legitimately given, which the attack tries to upgrade.
func attempts(dir string, roFd int, tag string) map[string]error {
	granted := filepath.Join(dir, "granted")
	open := func(path string, flags int) error {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	return map[string]error{
		"read ro.txt":          open(filepath.Join(granted, "ro.txt"), unix.O_RDONLY),
		"write ro.txt":         open(filepath.Join(granted, "ro.txt"), unix.O_WRONLY),
		"reopen ro fd rdwr":    open(fmt.Sprintf("/proc/self/fd/%d", roFd), unix.O_RDWR),
		"truncate via proc fd": unix.Truncate(fmt.Sprintf("/proc/self/fd/%d", roFd), 8),
		"write rw.txt":         open(filepath.Join(granted, "rw.txt"), unix.O_WRONLY),
		"create in granted":    open(filepath.Join(granted, "new-"+tag), unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY),
		"mkdir in granted":     unix.Mkdir(filepath.Join(granted, "sub-"+tag), 0o755),
		"read outside":         open(filepath.Join(dir, "outside", "secret.txt"), unix.O_RDONLY),
		"list outside":         open(filepath.Join(dir, "outside"), unix.O_RDONLY|unix.O_DIRECTORY),
	}
}

func restrictScenario(dir string, restrict func([]Grant) (Report, error)) report {
	r := report{}
	roFd, err := unix.Open(filepath.Join(dir, "granted", "ro.txt"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		r["setup"] = outcome(err)
		return r
	}
	for k, err := range attempts(dir, roFd, "before") {
		r["before."+k] = outcome(err)
	}

	// A thread locked before Restrict: the restriction must reach it too.
	other := make(chan func())
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		for f := range other {
			f()
			done <- struct{}{}
		}
	}()

	fdsBefore := countFds()
	rep, err := restrict(fixtureGrants(dir))
	r["fd_delta"] = fmt.Sprint(countFds() - fdsBefore)
	r["handled_all"] = fmt.Sprint(rep.Handled == handledAt(rep.ABI))
	r["restrict"] = outcome(err)
	r["abi"] = fmt.Sprint(rep.ABI)
	r["widened"] = fmt.Sprint(len(rep.Widened))
	for k, err := range attempts(dir, roFd, "after") {
		r["after."+k] = outcome(err)
	}
	other <- func() {
		_, err := os.ReadFile(filepath.Join(dir, "outside", "secret.txt"))
		r["thread.read outside"] = outcome(err)
	}
	<-done
	return r
}

// TestRestrict runs the scenario with Restrict (every thread) and
// RestrictThread (the calling thread only, for a PID namespace's init
// whose psx cannot reach its threads): the same answers on the calling
// thread; another thread is confined by Restrict only.
func TestRestrict(t *testing.T) {
	for _, c := range []struct {
		name, prefix, otherThread string
	}{
		{"Restrict", "", "EACCES"},
		{"RestrictThread", "thread:", "ok"},
	} {
		t.Run(c.name, func(t *testing.T) { testRestrict(t, c.prefix, c.otherThread) })
	}
}

func testRestrict(t *testing.T, prefix, otherThread string) {
	if _, err := Probe(); err != nil {
		t.Skipf("Landlock missing: %v", err)
	}
	dir := fixture(t)
	r, sig := childtest.Run(t, childEnv+"="+prefix+dir)
	if sig != 0 {
		t.Fatalf("child killed by %v", sig)
	}
	if r["restrict"] != "ok" {
		t.Fatalf("Restrict: %s", r["restrict"])
	}
	// Every attempt works unconfined; after Restrict only the granted ones do.
	after := map[string]string{
		"read ro.txt":          "ok",
		"write ro.txt":         "EACCES",
		"reopen ro fd rdwr":    "EACCES",
		"truncate via proc fd": "EACCES",
		"write rw.txt":         "ok",
		"create in granted":    "ok", // O_RDONLY: O_WRONLY would also need write on the new file
		"mkdir in granted":     "EACCES",
		"read outside":         "EACCES",
		"list outside":         "EACCES",
	}
	if abi, _ := Probe(); abi < 3 {
		after["truncate via proc fd"] = "ok" // LANDLOCK_ACCESS_FS_TRUNCATE is ABI 3
	}
	for k, want := range after {
		if got := r["before."+k]; got != "ok" {
			t.Errorf("unconfined %s: %s, want ok", k, got)
		}
		if got := r["after."+k]; got != want {
			t.Errorf("confined %s: %s, want %s", k, got, want)
		}
	}
	if r["thread.read outside"] != otherThread {
		t.Errorf("other thread read outside: %s, want %s", r["thread.read outside"], otherThread)
	}
	if r["fd_delta"] != "0" {
		t.Errorf("Restrict leaked %s fds", r["fd_delta"])
	}
	if r["handled_all"] != "true" {
		t.Errorf("Report.Handled is not everything ABI %s supports", r["abi"])
	}
	if r["widened"] != "0" {
		t.Errorf("fixture grants reported %s widenings, want 0", r["widened"])
	}
}

func TestProbe(t *testing.T) {
	abi, err := Probe()
	// The kernel's own answer, asked without go-landlock.
	want, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */)
	if errno != 0 {
		if err == nil {
			t.Fatalf("kernel says %v but Probe = %d, nil", errno, abi)
		}
		t.Skipf("Landlock missing: %v", err)
	}
	if err != nil || abi != int(want) {
		t.Fatalf("Probe = %d, %v; kernel ABI %d", abi, err, want)
	}
}

// countFds asks fcntl about each fd number: after Restrict, /proc/self/fd
// is no longer readable.
func countFds() int {
	n := 0
	for fd := range 4096 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			n++
		}
	}
	return n
}
