// Package broker_test runs the broker as a separate process (the capfd
// binary, built once per run) and talks to it the way clients do: through
// capfd.Dial, raw wire messages, and the CLI verbs.
package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// asyncTimeout bounds every testwait.Until in this package: the broker
// is another process and notices a dead client asynchronously; its state
// is read from its metrics and /proc.
const asyncTimeout = 10 * time.Second

// capfdBin is the capfd command built for this run.
var capfdBin string

func TestMain(m *testing.M) {
	if role := os.Getenv("CAPFD_E2E_ROLE"); role != "" {
		os.Exit(runRole(role))
	}
	dir, err := os.MkdirTemp("", "capfd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	capfdBin = filepath.Join(dir, "capfd")
	os.Chmod(dir, 0o755) // brokers run as another user execute it too
	build := exec.Command("go", "build", "-o", capfdBin, "github.com/capfd/capfd/cmd/capfd")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cmd/capfd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// brokerProc is a running `capfd broker`.
type brokerProc struct {
	cmd     *exec.Cmd
	socket  string
	metrics string // http://.../metrics
	audit   string // audit log path
	dir     string
	config  string // the configuration file

	logMu sync.Mutex
	log   strings.Builder // the broker's standard error
}

// logText returns what the broker wrote to standard error so far.
func (b *brokerProc) logText() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// grantSpec is one grant in the generated configuration.
type grantSpec struct{ name, path, rights string }

// startBroker writes a configuration granting grants to every client of
// this uid, starts the broker, and waits until it serves. extra is
// appended to the limits section.
func startBroker(t testing.TB, grants []grantSpec, limits string) *brokerProc {
	t.Helper()
	return startBrokerWith(t, grants, brokerOptions{limits: limits})
}

// brokerOptions vary how startBrokerWith runs the broker process.
type brokerOptions struct {
	limits    string               // the config's limits map, "" for defaults
	wrapper   []string             // a command the broker runs under (e.g. setpriv ...)
	extraArgs []string             // after "broker --config FILE"
	attr      *syscall.SysProcAttr // e.g. a new mount namespace
	// skipOnStartError skips the test, instead of failing it, when the
	// process cannot be started at all (a namespace the host refuses).
	skipOnStartError bool
	// uid, if not 0, runs the broker as that user (and group); its
	// directory is then theirs.
	uid int
	// optional marks every grant optional (it may be missing at start).
	optional bool
	// match, if set, is the rule's match (YAML flow map) instead of
	// this uid.
	match string
}

func startBrokerWith(t testing.TB, grants []grantSpec, o brokerOptions) *brokerProc {
	t.Helper()
	dir := t.TempDir()
	b := &brokerProc{socket: filepath.Join(dir, "broker.sock"), audit: filepath.Join(dir, "audit.json"), dir: dir}
	cfgPath := filepath.Join(dir, "broker.yaml")
	b.config = cfgPath
	b.writeConfig(t, grants, o)
	if o.uid != 0 {
		for _, p := range []string{dir, cfgPath} {
			if err := os.Chown(p, o.uid, o.uid); err != nil {
				t.Fatal(err)
			}
		}
		os.Chmod(filepath.Dir(dir), 0o755)
		if o.attr == nil {
			o.attr = &syscall.SysProcAttr{}
		}
		o.attr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}
	}
	args := append(append([]string{}, o.wrapper...), capfdBin, "broker", "--config", cfgPath)
	args = append(args, o.extraArgs...)
	b.cmd = exec.Command(args[0], args[1:]...)
	b.cmd.SysProcAttr = o.attr
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		if o.skipOnStartError {
			t.Skipf("cannot start the broker (%v): %v", o.attr, err)
		}
		t.Fatal(err)
	}
	metricsRE := regexp.MustCompile(`address=(http://\S+/metrics)`)
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			b.logMu.Lock()
			b.log.WriteString(line + "\n")
			b.logMu.Unlock()
			if m := metricsRE.FindStringSubmatch(line); m != nil {
				b.metrics = m[1]
			}
			if strings.Contains(line, "msg=listening") && !sent {
				ready <- nil
				sent = true
			}
		}
		if !sent {
			ready <- fmt.Errorf("broker exited before listening")
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			b.cmd.Wait()
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		b.cmd.Process.Kill()
		t.Fatal("broker did not start")
	}
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop sends SIGTERM and checks the broker drains and exits cleanly.
func (b *brokerProc) stop(t testing.TB) {
	if b.cmd.ProcessState != nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("broker exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		t.Error("broker did not exit after SIGTERM")
	}
}

// writeConfig writes the broker's configuration file: grants to every
// client of this uid (the same file SIGHUP rereads).
func (b *brokerProc) writeConfig(t testing.TB, grants []grantSpec, o brokerOptions) {
	t.Helper()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "socket: %s\nsocket_mode: \"0600\"\nmetrics: {address: \"127.0.0.1:0\"}\naudit: {path: %s}\n", b.socket, b.audit)
	if o.limits != "" {
		fmt.Fprintf(&cfg, "limits: {%s}\n", o.limits)
	}
	match := o.match
	if match == "" {
		match = fmt.Sprintf("{uid: %d}", os.Getuid())
	}
	fmt.Fprintf(&cfg, "clients:\n  - name: tests\n    match: %s\n    grants:\n", match)
	for _, g := range grants {
		fmt.Fprintf(&cfg, "      - {name: %s, path: %q, rights: %q, optional: %v}\n", g.name, g.path, g.rights, o.optional)
	}
	if err := os.WriteFile(b.config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *brokerProc) pid() int { return b.cmd.Process.Pid }

// fds counts the broker's open descriptors.
func (b *brokerProc) fds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.pid()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// metric returns the value of the sample whose line starts with series
// (name plus labels, exactly as exposed).
func (b *brokerProc) metric(t testing.TB, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(b.scrape(t), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// scrape returns the broker's /metrics text.
func (b *brokerProc) scrape(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(b.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// tree makes a directory with a few files for a grant.
func tree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, broker\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "inner.txt"), []byte("inner"), 0o644)
	os.Symlink("hello.txt", filepath.Join(dir, "link"))
	return dir
}
