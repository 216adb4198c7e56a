package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capfd/capfd/examples/internal/exampletest"
	"github.com/capfd/capfd/internal/testwait"
)

func TestMain(m *testing.M) { exampletest.Main(m, main) }

const nobody = 65534

// sidecar is a running broker and what a test needs to reach it.
type sidecar struct {
	base, shared, socket, auditLog string
	clientExe                      string // the test binary, executable by nobody
	metricsURL                     string
}

// startSidecar starts `capfd broker` with sidecar.yaml, its paths moved
// into a temporary directory.
func startSidecar(t *testing.T) sidecar {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the sidecar policy serves uid 0 and uid 65534: needs root to run clients as both")
	}
	base := t.TempDir()
	// Clients run as nobody must reach the socket and their binary; the
	// shared directory itself stays root's alone (0700).
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := sidecar{
		base:      base,
		shared:    filepath.Join(base, "shared"),
		socket:    filepath.Join(base, "sidecar.sock"),
		auditLog:  filepath.Join(base, "audit.log"),
		clientExe: filepath.Join(base, "sidecar"),
	}
	if err := os.Mkdir(s.shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.shared, "hello.txt"), []byte("hello from the shared directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	copyExecutable(t, s.clientExe)

	config, err := os.ReadFile("sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"/run/capfd/sidecar.sock", s.socket,
		"/srv/shared", s.shared,
		"127.0.0.1:9465", "127.0.0.1:0",
		`path: "-"`, "path: "+s.auditLog,
	).Replace(string(config))
	cfgPath := filepath.Join(base, "sidecar.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	broker := exec.Command(exampletest.BuildCapfd(t), "broker", "--config", cfgPath)
	stderr, err := broker.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var brokerLog strings.Builder
	listening := make(chan struct{})
	metrics := regexp.MustCompile(`address=(http://\S+/metrics)`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			brokerLog.WriteString(line + "\n")
			if m := metrics.FindStringSubmatch(line); m != nil {
				s.metricsURL = m[1]
			}
			logMu.Unlock()
			if strings.Contains(line, "msg=listening") {
				close(listening)
			}
		}
	}()
	t.Cleanup(func() {
		broker.Process.Signal(syscall.SIGTERM)
		broker.Wait()
		logMu.Lock()
		defer logMu.Unlock()
		if t.Failed() {
			t.Logf("broker log:\n%s", brokerLog.String())
		}
	})
	testwait.Recv(t, "the broker to listen", 10*time.Second, listening)
	logMu.Lock()
	defer logMu.Unlock()
	return s
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// client runs the sidecar client as uid with args.
func (s sidecar) client(t *testing.T, uid uint32, args ...string) result {
	t.Helper()
	cmd := exampletest.CommandIn(t, s.clientExe, append([]string{"-socket", s.socket}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	cmd.Dir = "/"
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("client %v as uid %d: %v", args, uid, err)
	}
	return r
}

// TestTwoClientsTwoPolicies: one broker, the policy of sidecar.yaml, and
// the same client program run under two identities. The same request
// (put) works for the writer and is refused for the reader, whose reads
// still work; the reader cannot reach the directory by path at all, and an
// identity the policy does not name is turned away.
func TestTwoClientsTwoPolicies(t *testing.T) {
	s := startSidecar(t)
	const writer = 0

	check := func(r result, code int, stdout, stderr string, what string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				what, r.code, r.stdout, r.stderr, code, stdout, stderr)
		}
	}

	check(s.client(t, writer, "rights"), 0, "shared: base lookup,read,write", "", "writer's rights")
	check(s.client(t, nobody, "rights"), 0, "shared: base lookup,read,seek,stat", "", "reader's rights")

	// The writer writes; the reader reads what it wrote.
	check(s.client(t, writer, "put", "note.txt", "from the writer"), 0, "", "", "writer put")
	check(s.client(t, nobody, "get", "note.txt"), 0, "from the writer", "", "reader get")
	check(s.client(t, nobody, "ls"), 0, "hello.txt\nnote.txt\n", "", "reader ls")

	// The reader's writes are refused by the broker, and nothing changes.
	check(s.client(t, nobody, "put", "evil.txt", "x"), 3, "", "not capable", "reader put new file")
	check(s.client(t, nobody, "put", "note.txt", "FORGED"), 3, "", "not capable", "reader overwrite")
	if _, err := os.Stat(filepath.Join(s.shared, "evil.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("evil.txt: %v; the reader created a file", err)
	}
	if data, _ := os.ReadFile(filepath.Join(s.shared, "note.txt")); string(data) != "from the writer" {
		t.Errorf("note.txt holds %q after the reader's refused write", data)
	}
	// Nor can either client leave the grant.
	check(s.client(t, writer, "get", "../sidecar.yaml"), 1, "", "escapes", "writer ..")

	// The broker is the reader's only way in: by path, the directory is
	// root's alone.
	cat := exec.Command("cat", filepath.Join(s.shared, "hello.txt"))
	cat.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cat.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("cat as nobody: %v, %q; want Permission denied", err, out)
	}

	// A compromised reader that skips capfd's client-side checks and
	// talks the wire protocol itself is refused by the broker.
	s.runCompromisedReader(t)

	// An identity no rule names gets nothing.
	check(s.client(t, 1234, "ls"), 1, "", "refused", "unknown uid")

	// What the broker saw: the refusals in the audit log and the metrics.
	audit, err := os.ReadFile(s.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"denied"`, `"refused"`, fmt.Sprint(nobody), "1234"} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit log lacks %s:\n%s", want, audit)
		}
	}
	if s.metricsURL == "" {
		t.Fatal("the broker logged no metrics address")
	}
	resp, err := http.Get(s.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`capfd_broker_denials_total\{right="[a-z,]*write[a-z,]*"\} [1-9]`).Match(body) {
		t.Errorf("metrics show no denial of write:\n%s", grepLines(string(body), "capfd_broker_denials_total"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
