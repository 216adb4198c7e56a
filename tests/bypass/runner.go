package bypass

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Time limits of one child: it is the suite's, not the kernel's, speed
// that they bound, so they are generous.
const (
	readyTimeout = 30 * time.Second
	childTimeout = 60 * time.Second
)

// RunSuite runs the whole catalogue against b: for each attack, a subtest
// "unconfined" where the attack must succeed, and "confined" where it must
// fail, or succeed if b lists it in Gaps. Then each of Uses, confined, must
// succeed: a backend may not pass by refusing everything.
func RunSuite(t *testing.T, b Backend) {
	requireSuitePrivileges(t)
	checkAvailable(t, b)
	helper := suiteHelper(t)
	gaps := b.Gaps()
	for name := range gaps {
		if !slices.ContainsFunc(Catalogue(), func(a Attack) bool { return a.Name == name }) {
			t.Errorf("%s: Gaps names unknown attack %q", b.Name(), name)
		}
	}
	for _, a := range Catalogue() {
		t.Run(a.Name, func(t *testing.T) {
			if a.needs != nil {
				err := a.needs(NewEnv(t, helper, false))
				var missing *MissingFeatureError
				switch {
				case errors.As(err, &missing):
					t.Skipf("%v", missing)
				case err != nil:
					t.Fatalf("checking the fixture can show this attack: %v", err)
				}
			}
			t.Run("unconfined", func(t *testing.T) {
				r := runChild(t, NewEnv(t, helper, a.victim), a, nil)
				if !r.Succeeded {
					t.Errorf("the attack must work unconfined, or the confined run proves nothing: %s", r)
				}
			})
			t.Run("confined", func(t *testing.T) {
				r := runChild(t, NewEnv(t, helper, a.victim), a, b)
				reason, isGap := gaps[a.Name]
				switch {
				case r.Stage != stageAttack:
					t.Errorf("child did not get to the attack: %s", r)
				case isGap && !r.Succeeded:
					t.Errorf("%s lists this as a gap (%s), but it was blocked (%s): update Gaps and docs/kernel-enforcement.md", b.Name(), reason, r)
				case !isGap && r.Succeeded:
					t.Errorf("%s: %s: the attack SUCCEEDED while confined", b.Name(), a.Doc)
				case isGap:
					t.Logf("known gap: %s", reason)
				default:
					t.Logf("blocked: %s", r.Errno+" "+r.Error)
				}
			})
		})
	}
	for _, u := range Uses() {
		t.Run(u.Name, func(t *testing.T) {
			if r := runChild(t, NewEnv(t, helper, false), u, b); !r.Succeeded {
				t.Errorf("%s refuses what the grants allow (%s): %s", b.Name(), u.Doc, r)
			}
		})
	}
}

// RunIsolation shows confinement is per process tree: of two children of
// the same parent, started together, only the confined one is restricted,
// and the parent is untouched throughout.
func RunIsolation(t *testing.T, b Backend) {
	requireSuitePrivileges(t)
	checkAvailable(t, b)
	helper := suiteHelper(t)
	e := NewEnv(t, helper, false)
	a, _ := attackByName("open-ungranted-sibling")

	confined := startChild(t, e, a, b)
	sibling := startChild(t, e, a, nil)
	for _, c := range []*child{confined, sibling} {
		if err := c.waitReady(); err != nil {
			t.Fatal(err)
		}
	}
	release, err := b.ConfineChild(confined.cmd.Process.Pid, e.Grants())
	if err != nil {
		t.Fatalf("%s: ConfineChild: %v", b.Name(), err)
	}
	defer release()

	// The confined child attacks first: the sibling attacks while the
	// confinement exists, not after it is gone.
	if r := confined.goAndWait(t); r.Stage != stageAttack || r.Succeeded {
		t.Errorf("confined child: %s, want blocked", r)
	}
	if r := sibling.goAndWait(t); !r.Succeeded {
		t.Errorf("unconfined sibling: %s, want success", r)
	}
	if err := readSecret(e); err != nil {
		t.Errorf("the test process itself: %v", err)
	}
}

func checkAvailable(t *testing.T, b Backend) {
	t.Helper()
	err := b.Available()
	var missing *MissingFeatureError
	switch {
	case errors.As(err, &missing):
		t.Skipf("%s: %v", b.Name(), missing)
	case err != nil:
		t.Fatalf("%s unavailable: %v", b.Name(), err)
	}
}

// requireSuitePrivileges: children run in their own mount namespace (so the
// bind-mount attacks, which must succeed unconfined, change nothing
// outside), and the unconfined mounts themselves need CAP_SYS_ADMIN.
func requireSuitePrivileges(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("root (CAP_SYS_ADMIN) missing: children unshare a mount namespace and bind-mount")
	}
}

type child struct {
	cmd     *exec.Cmd
	ready   *os.File
	goPipe  *os.File
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	started time.Time
}

// runChild runs a in a child of e, confined by b (nil: unconfined).
func runChild(t *testing.T, e *Env, a Attack, b Backend) Result {
	t.Helper()
	c := startChild(t, e, a, b)
	if err := c.waitReady(); err != nil {
		t.Fatal(err)
	}
	if b != nil {
		release, err := b.ConfineChild(c.cmd.Process.Pid, e.Grants())
		if err != nil {
			c.kill()
			t.Fatalf("%s: ConfineChild: %v", b.Name(), err)
		}
		defer release()
	}
	return c.goAndWait(t)
}

func startChild(t *testing.T, e *Env, a Attack, b Backend) *child {
	t.Helper()
	exe := e.Helper
	if a.victim {
		exe = e.Victim
	}
	backend := ""
	if b != nil {
		backend = b.Name()
	}
	c := &child{cmd: helperCommand(e, exe, roleChild, []string{envAttack + "=" + a.Name, envBackend + "=" + backend})}
	goR, goW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.goPipe, c.ready = goW, readyR
	c.cmd.ExtraFiles = []*os.File{goR, readyW} // fds 3 and 4
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS, // os/exec then makes / private
		Pdeathsig:    syscall.SIGKILL,
	}
	err = c.cmd.Start()
	goR.Close()
	readyW.Close()
	if err != nil {
		goW.Close()
		readyR.Close()
		t.Fatalf("start child: %v", err)
	}
	c.started = time.Now()
	t.Cleanup(c.kill)
	return c
}

func (c *child) waitReady() error {
	c.ready.SetReadDeadline(time.Now().Add(readyTimeout))
	line, err := bufio.NewReader(c.ready).ReadString('\n')
	c.ready.Close()
	if err != nil || strings.TrimSpace(line) != "ready" {
		c.kill()
		return fmt.Errorf("child never got ready (%q, %v); stderr:\n%s", line, err, c.stderr.String())
	}
	return nil
}

func (c *child) goAndWait(t *testing.T) Result {
	t.Helper()
	_, err := c.goPipe.WriteString("go\n")
	c.goPipe.Close()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	timer := time.AfterFunc(childTimeout, c.kill)
	err = c.cmd.Wait()
	timer.Stop()
	if err != nil {
		t.Fatalf("child: %v; stdout %q; stderr:\n%s", err, c.stdout.String(), c.stderr.String())
	}
	out := bytes.TrimSpace(c.stdout.Bytes())
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var r Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child report %q: %v; stderr:\n%s", c.stdout.String(), err, c.stderr.String())
	}
	return r
}

// kill is safe at any time: after Wait, os.Process.Kill only reports that
// the process is done, it never signals a recycled pid.
func (c *child) kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Kill()
	}
}
