package launch

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/broker/profile"
	"github.com/capfd/capfd/rights"
)

// The test binary is its own stage 2, as capfd is: Run re-executes it.
func TestMain(m *testing.M) {
	MaybeStage2()
	os.Exit(m.Run())
}

// confined is a launch of sh through the library: the default profile,
// one read-write grant, and sh's output in files of the test's.
type confined struct {
	t                *testing.T
	granted, outside string
	stdout, stderr   *os.File
	log              bytes.Buffer
}

func newConfined(t *testing.T) *confined {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	c := &confined{t: t, granted: filepath.Join(dir, "granted"), outside: filepath.Join(dir, "outside")}
	for _, d := range []string{c.granted, c.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if c.stdout, err = os.Create(filepath.Join(dir, "stdout")); err != nil {
		t.Fatal(err)
	}
	if c.stderr, err = os.Create(filepath.Join(dir, "stderr")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stdout.Close(); c.stderr.Close() })
	return c
}

func (c *confined) options(script string) Options {
	return Options{
		Argv:    []string{"sh", "-c", script, "sh", c.granted, c.outside},
		Profile: profile.Default(),
		Grants:  []notify.Grant{{Path: c.granted, Rights: rights.Uniform(rights.ReadWrite)}},
		Stdout:  c.stdout,
		Stderr:  c.stderr,
		Log:     &c.log,
	}
}

func (c *confined) output(f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// TestRunConfines: a write beneath the grant is allowed, one outside it is
// refused (and logged), and the status is the program's own.
func TestRunConfines(t *testing.T) {
	c := newConfined(t)
	status, err := Run(c.options(`echo in > "$1/f" || exit 3; if echo out > "$2/f"; then exit 4; fi; echo done; exit 7`))
	if err != nil || status != 7 {
		t.Fatalf("Run: status %d, %v; want 7\nstderr: %s\nlog: %s", status, err, c.output(c.stderr), c.log.String())
	}
	if b, err := os.ReadFile(filepath.Join(c.granted, "f")); err != nil || string(b) != "in\n" {
		t.Errorf("granted write: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(c.outside, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the write outside the grant left a file: %v", err)
	}
	if got := c.output(c.stdout); got != "done\n" {
		t.Errorf("stdout %q, want %q", got, "done\n")
	}
	if want := "not capable"; !strings.Contains(c.log.String(), want) || !strings.Contains(c.log.String(), c.outside) {
		t.Errorf("log %q: want a refusal of %s", c.log.String(), c.outside)
	}
}

// TestRunStatus: the program's status comes back shell-style, the
// launcher's own failures as 126 and 127 with an error.
func TestRunStatus(t *testing.T) {
	c := newConfined(t)
	if status, err := Run(c.options(`kill -KILL $$`)); err != nil || status != 128+9 {
		t.Errorf("killed program: status %d, %v; want 137", status, err)
	}

	opts := c.options("")
	opts.Argv = []string{"capfd-launch-test-no-such-program"}
	if status, err := Run(opts); err == nil || status != 127 {
		t.Errorf("missing program: status %d, %v; want 127 and an error", status, err)
	}

	opts = c.options(`exit 0`)
	opts.Grants = append(opts.Grants, notify.Grant{Path: "relative", Rights: rights.Uniform(rights.ReadOnly)})
	if status, err := Run(opts); err == nil || status != 126 {
		t.Errorf("bad grant: status %d, %v; want 126 and an error", status, err)
	}
}

// TestRunNoNamespace: without a PID namespace the program still runs
// confined, and the launcher warns that its descendants may outlive it.
func TestRunNoNamespace(t *testing.T) {
	c := newConfined(t)
	opts := c.options(`echo in > "$1/f"`)
	opts.NoNamespace = true
	if status, err := Run(opts); err != nil || status != 0 {
		t.Fatalf("Run: status %d, %v\nstderr: %s\nlog: %s", status, err, c.output(c.stderr), c.log.String())
	}
	if !strings.Contains(c.log.String(), "warning: no PID namespace (disabled by the launcher") {
		t.Errorf("log %q: want the no-namespace warning", c.log.String())
	}
}

// TestRunNeedsHook: a binary that never called MaybeStage2 is not
// re-executed.
func TestRunNeedsHook(t *testing.T) {
	hooked = false
	defer func() { hooked = true }()
	if status, err := Run(Options{Argv: []string{"true"}}); err == nil || status != 126 {
		t.Errorf("Run without the hook: status %d, %v; want 126 and an error", status, err)
	}
}

// TestMissingGrant: a grant of a path that does not exist is not a launch
// failure but an absent path, noted once.
func TestMissingGrant(t *testing.T) {
	c := newConfined(t)
	missing := filepath.Join(c.outside, "not-yet")
	opts := c.options(`test -e "$3" && exit 3; echo ran`)
	opts.Argv = append(opts.Argv, missing)
	opts.Grants = append(opts.Grants, notify.Grant{Path: missing, Rights: rights.Uniform(rights.ReadWrite)})
	if status, err := Run(opts); err != nil || status != 0 {
		t.Fatalf("Run: status %d, %v\nstderr: %s\nlog: %s", status, err, c.output(c.stderr), c.log.String())
	}
	if !strings.Contains(c.log.String(), "note: grant "+missing+": no such file") {
		t.Errorf("no note of the missing grant:\n%s", c.log.String())
	}
}
