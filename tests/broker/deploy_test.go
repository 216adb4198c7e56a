package broker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"go.yaml.in/yaml/v3"
)

// waitLog waits until the broker's standard error holds want at least n
// times.
func (b *brokerProc) waitLog(t testing.TB, want string, n int) {
	t.Helper()
	testwait.Until(t, fmt.Sprintf("%d× %q in the broker's log", n, want), asyncTimeout, func() bool {
		return strings.Count(b.logText(), want) >= n
	})
}

// signalAndWait sends sig and waits for the broker to exit, returning its
// exit error.
func (b *brokerProc) signalAndWait(t testing.TB, sig os.Signal) error {
	t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	return testwait.Recv(t, "the broker exits after "+sig.String(), asyncTimeout, done)
}

// TestReloadOnSIGHUP: SIGHUP rereads the policy without dropping the
// connected client, which keeps the grants it was admitted with; a new
// client gets the new grants; a configuration that does not load is
// logged and the policy in force kept.
func TestReloadOnSIGHUP(t *testing.T) {
	old, added := tree(t), tree(t)
	b := startBroker(t, []grantSpec{{"old", old, "ro"}}, "")
	r := dial(t, b)
	d := rootDir(t, r, "old")
	f, err := d.Open("hello.txt") // a handle open across the reload
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	b.writeConfig(t, []grantSpec{{"old", old, "ro"}, {"added", added, "ro"}}, brokerOptions{})
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog(t, "policy reloaded", 1)

	// The connected client: still served, same handles, same grants.
	if data, err := io.ReadAll(f); err != nil || string(data) != "hello, broker\n" {
		t.Errorf("reading a file opened before the reload: %q, %v", data, err)
	}
	if _, err := d.Stat("sub/inner.txt"); err != nil {
		t.Errorf("the connected client after the reload: %v", err)
	}
	if _, err := r.Dir("added"); err == nil {
		t.Error("the connected client got the reloaded grant: connected clients keep the grants they were admitted with")
	}
	// A new client: the new policy.
	r2 := dial(t, b)
	if _, err := rootDir(t, r2, "added").Stat("hello.txt"); err != nil {
		t.Errorf("a new client's reloaded grant: %v", err)
	}

	// A bad configuration (a grant that does not open, then YAML that
	// does not parse): logged, the policy in force kept.
	b.writeConfig(t, []grantSpec{{"old", old, "ro"}, {"gone", filepath.Join(old, "missing"), "ro"}}, brokerOptions{})
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog(t, "reload failed: keeping the policy in force", 1)
	if !strings.Contains(b.logText(), `grant \"gone\"`) {
		t.Errorf("the failed reload does not name the grant that failed:\n%s", b.logText())
	}
	if err := os.WriteFile(b.config, []byte("clients: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog(t, "reload failed: keeping the policy in force", 2)
	r3 := dial(t, b)
	if _, err := rootDir(t, r3, "added").Stat("hello.txt"); err != nil {
		t.Errorf("after failed reloads, a new client gets the last good policy: %v", err)
	}
	if _, err := d.Stat("hello.txt"); err != nil {
		t.Errorf("the first client after the failed reloads: %v", err)
	}
	if strings.Contains(b.logText(), "level=ERROR") && strings.Count(b.logText(), "level=ERROR") != 2 {
		t.Errorf("errors besides the two failed reloads:\n%s", b.logText())
	}
}

// TestShutdownRemovesSocket: SIGTERM and SIGINT stop the broker cleanly
// (exit 0) and remove its socket file; SIGHUP does neither.
func TestShutdownRemovesSocket(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			b := startBroker(t, []grantSpec{{"data", tree(t), "ro"}}, "")
			b.cmd.Process.Signal(syscall.SIGHUP)
			b.waitLog(t, "policy reloaded", 1)
			dial(t, b) // SIGHUP left it serving
			if err := b.signalAndWait(t, sig); err != nil {
				t.Errorf("exit after %v: %v\n%s", sig, err, b.logText())
			}
			if _, err := os.Lstat(b.socket); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket file after %v: %v, want it removed", sig, err)
			}
		})
	}
}

// TestSocketDirectoryCreated: a socket whose directory is missing (as
// /run/capfd is on a fresh machine) gets it, mode 0755.
func TestSocketDirectoryCreated(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "capfd", "broker.sock")
	cfg := fmt.Sprintf("socket: %s\nkernel: off\nclients:\n  - match: {uid: %d}\n    grants: [{name: data, path: %q, rights: ro}]\n", sock, os.Getuid(), tree(t))
	cfgPath := filepath.Join(dir, "broker.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	cmd := exec.Command(capfdBin, "broker", "--config", cfgPath)
	out := startLogged(t, cmd)
	testwait.Until(t, "the broker listens", asyncTimeout, func() bool { return strings.Contains(out.String(), "msg=listening") })
	fi, err := os.Stat(filepath.Dir(sock))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("socket directory: %v, %v; want mode 0755", fi, err)
	}
	r, err := capfd.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// startLogged starts cmd with its standard error (and output) collected,
// and at the end of the test stops it with SIGTERM and checks it exits
// cleanly.
func startLogged(t *testing.T, cmd *exec.Cmd) *brokertest.AuditLog {
	t.Helper()
	out := &brokertest.AuditLog{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: exit after SIGTERM: %v\n%s", cmd.Path, err, out)
			}
		case <-time.After(asyncTimeout):
			cmd.Process.Kill()
			t.Errorf("%s did not exit after SIGTERM\n%s", cmd.Path, out)
		}
	})
	return out
}

// TestSocketActivation runs the broker as systemd would start it from
// examples/systemd/capfd-broker.socket: systemd-socket-activate (from
// Debian's systemd package) listens on a SOCK_SEQPACKET socket and, at the
// first connection, starts the broker with it (LISTEN_FDS). The client
// that triggered the start is served over it, and so are later ones; the
// configured socket is not created; on SIGTERM the passed socket file is
// left to its owner.
func TestSocketActivation(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian's systemd package; scripts/setup.sh installs it)")
	}
	data := tree(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "activated.sock")
	configured := filepath.Join(dir, "configured.sock")
	cfg := fmt.Sprintf("socket: %s\nkernel: off\nclients:\n  - match: {uid: %d}\n    grants: [{name: data, path: %q, rights: ro}]\n", configured, os.Getuid(), data)
	cfgPath := filepath.Join(dir, "broker.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	cmd := exec.Command(activate, "--seqpacket", "--listen="+sock, capfdBin, "broker", "--config", cfgPath)
	out := startLogged(t, cmd)
	testwait.Until(t, "systemd-socket-activate listens", asyncTimeout, func() bool {
		_, err := os.Stat(sock)
		return err == nil && strings.Contains(out.String(), "Listening on")
	})
	if strings.Contains(out.String(), "msg=listening") {
		t.Fatal("the broker started before any client connected")
	}
	r, err := capfd.Dial(sock) // starts the broker, waits in the backlog
	if err != nil {
		t.Fatalf("first client: %v\n%s", err, out)
	}
	defer r.Close()
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	if data, err := d.ReadFile("hello.txt"); err != nil || string(data) != "hello, broker\n" {
		t.Errorf("read through the activated broker: %q, %v", data, err)
	}
	r2, err := capfd.Dial(sock)
	if err != nil {
		t.Fatalf("second client: %v", err)
	}
	r2.Close()
	if !strings.Contains(out.String(), "socket activation: serving the socket systemd passed") {
		t.Errorf("the broker does not say it serves the passed socket:\n%s", out)
	}
	if _, err := os.Lstat(configured); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the configured socket was created under socket activation: %v", err)
	}
}

// notifySocket is a fake systemd notification socket (NOTIFY_SOCKET): it
// collects the datagrams sd_notify sends.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock"), msgs: make(chan string, 16)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// next returns the next notification.
func (n *notifySocket) next(t *testing.T, what string) string {
	t.Helper()
	return testwait.Recv(t, what, asyncTimeout, n.msgs)
}

// TestSdNotify: under a Type=notify service (NOTIFY_SOCKET set) the
// broker says READY=1 once its socket listens, RELOADING=1 then READY=1
// around a SIGHUP reload, and STOPPING=1 on SIGTERM.
func TestSdNotify(t *testing.T) {
	n := newNotifySocket(t)
	os.Setenv("NOTIFY_SOCKET", n.path) // inherited by the broker only: the test never notifies
	b := startBroker(t, []grantSpec{{"data", tree(t), "ro"}}, "")
	os.Unsetenv("NOTIFY_SOCKET")
	if msg := n.next(t, "READY=1 at start"); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	dial(t, b) // ready meant ready
	b.cmd.Process.Signal(syscall.SIGHUP)
	if msg := n.next(t, "RELOADING=1"); !strings.HasPrefix(msg, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("on SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", msg)
	}
	if msg := n.next(t, "READY=1 after the reload"); msg != "READY=1" {
		t.Errorf("after the reload %q, want READY=1", msg)
	}
	if err := b.signalAndWait(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
	if msg := n.next(t, "STOPPING=1"); msg != "STOPPING=1" {
		t.Errorf("on SIGTERM %q, want STOPPING=1", msg)
	}
}

// TestHealthEndpoints: /healthz and /readyz answer beside /metrics, on
// the same listener; /readyz says ready while the broker accepts clients.
func TestHealthEndpoints(t *testing.T) {
	b := startBroker(t, []grantSpec{{"data", tree(t), "ro"}}, "")
	base := strings.TrimSuffix(b.metrics, "/metrics")
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
}

// TestKernelOffSaysSoOnce: kernel: off is the operator's choice, said in
// one INFO line, not warned about backend by backend.
func TestKernelOffSaysSoOnce(t *testing.T) {
	b := startBrokerWith(t, []grantSpec{{"data", tree(t), "ro"}}, brokerOptions{extraArgs: []string{"--kernel", "off"}})
	log := b.logText()
	var kernelLines []string
	for line := range strings.Lines(log) {
		if strings.Contains(line, "kernel") {
			kernelLines = append(kernelLines, line)
		}
	}
	if strings.Contains(log, "level=WARN") || len(kernelLines) != 1 || !strings.Contains(kernelLines[0], "level=INFO") || !strings.Contains(kernelLines[0], "mode=off") {
		t.Errorf("kernel: off logged %q; want one INFO line and no WARN\nwhole log:\n%s", kernelLines, log)
	}
}

// readmeCommand returns the README's command line that contains want,
// from "bin/capfd" to the comment, failing the test if there is none.
func readmeCommand(t *testing.T, want string) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if cmd, _, _ := strings.Cut(line, "#"); strings.HasPrefix(cmd, "bin/capfd ") && strings.Contains(cmd, want) {
			return strings.Fields(cmd)
		}
	}
	t.Fatalf("README.md has no command line with %q", want)
	return nil
}

// TestReadmeBrokerExample runs the README's broker commands as written,
// from the repository's root, on this machine: `capfd broker --config
// examples/broker.yaml` (its socket directory, /run/capfd, created if
// missing; its grants in examples/broker-tree), then, as root, `capfd ls`
// through it, and `capfd broker --check-config`.
func TestReadmeBrokerExample(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the example serves root's programs (its operator rule) on /run/capfd: needs root")
	}
	const sock = "/run/capfd/broker.sock"
	if c, err := net.Dial("unixpacket", sock); err == nil {
		c.Close()
		t.Skipf("a broker already serves %s on this machine", sock)
	}
	if _, err := os.Stat("/run/capfd"); errors.Is(err, fs.ErrNotExist) {
		t.Cleanup(func() { os.Remove("/run/capfd") }) // fresh again for the next run
	}
	run := func(argv []string) *exec.Cmd {
		cmd := exec.Command(capfdBin, argv[1:]...)
		cmd.Dir = "../.."
		return cmd
	}

	check := readmeCommand(t, "--check-config examples/broker.yaml")
	if out, err := run(check).CombinedOutput(); err != nil || !strings.Contains(string(out), "valid") {
		t.Errorf("%s: %v\n%s", strings.Join(check, " "), err, out)
	}

	argv := readmeCommand(t, "broker --config examples/broker.yaml")
	out := startLogged(t, run(argv))
	testwait.Until(t, "the example broker listens", asyncTimeout, func() bool {
		return strings.Contains(out.String(), "msg=listening")
	})
	if fi, err := os.Stat("/run/capfd"); err != nil || fi.Mode().Perm()&0o755 != 0o755 {
		t.Errorf("/run/capfd: %v, %v; want a directory others can reach", fi, err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("%s: %v, %v; want the example's socket_mode 0666", sock, fi, err)
	}

	ls := readmeCommand(t, "ls --socket "+sock)
	got, err := run(ls).Output()
	if err != nil || string(got) != "index.html\n" {
		t.Errorf("%s: %q, %v; want the example tree's index.html", strings.Join(ls, " "), got, err)
	}
	r, err := capfd.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if roots := r.Roots(); len(roots) != 1 || roots[0] != "www" {
		t.Errorf("root's roots %v, want the operator rule's [www]", roots)
	}
	d := rootDir(t, r, "www")
	if _, err := d.Create("new.html"); !errors.Is(err, capfd.ErrNotCapable) {
		t.Errorf("create in the read-only example grant: %v, want ErrNotCapable", err)
	}
}

// promqlNames returns the metric names a PromQL expression uses: what is
// left of it once strings, label matchers, ranges, grouping clauses,
// function calls, keywords, numbers and dashboard variables are taken out.
func promqlNames(expr string) []string {
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`"(\\.|[^"\\])*"`),                                               // strings
		regexp.MustCompile(`\{[^}]*\}`),                                                     // label matchers
		regexp.MustCompile(`\[[^\]]*\]`),                                                    // ranges
		regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`), // grouping
		regexp.MustCompile(`\$\{?\w+\}?`),                                                   // dashboard variables
		regexp.MustCompile(`\b[a-zA-Z_]\w*\s*\(`),                                           // function calls
		regexp.MustCompile(`\b(and|or|unless|bool|offset)\b`),                               // keywords
		regexp.MustCompile(`\b\d+(\.\d+)?([eE][-+]?\d+)?\b`),                                // numbers
	} {
		expr = re.ReplaceAllString(expr, " ")
	}
	return regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`).FindAllString(expr, -1)
}

// scrapedNames returns the names of every sample the broker's /metrics
// shows (a histogram's _bucket, _sum and _count included).
func (b *brokerProc) scrapedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for line := range strings.Lines(b.scrape(t)) {
		if line == "" || line[0] == '#' {
			continue
		}
		names[regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`).FindString(line)] = true
	}
	return names
}

// TestMonitoringExamples: every metric that examples/monitoring's Grafana
// dashboard and alert rules name is one a running broker exports (its
// /metrics scraped), besides Prometheus's own up and the two kernel
// counters that exist only while the BPF LSM is loaded (checked against
// their definition instead).
func TestMonitoringExamples(t *testing.T) {
	b := startBroker(t, []grantSpec{{"data", tree(t), "ro"}}, "")
	dial(t, b)
	exported := b.scrapedNames(t)
	if !exported["capfd_broker_operations_total"] || !exported["process_open_fds"] || !exported["capfd_build_info"] {
		t.Fatalf("the scrape lacks the broker's own metrics: %v", exported)
	}
	enforceSrc, err := os.ReadFile("../../broker/enforce/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	onlyWithBPFLSM := map[string]bool{"capfd_kernel_denials_total": true, "capfd_kernel_denials_unreported_total": true}
	for name := range onlyWithBPFLSM {
		if !strings.Contains(string(enforceSrc), `prometheus.NewDesc("`+name+`"`) {
			t.Errorf("broker/enforce no longer defines %s", name)
		}
	}

	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query" && strings.HasPrefix(s, "label_values(")) {
					if arg, ok := strings.CutPrefix(s, "label_values("); ok {
						s = arg[:strings.LastIndex(arg, ",")] // the metric, not the label
					}
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	dash, err := os.ReadFile("../../examples/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard any
	if err := json.Unmarshal(dash, &dashboard); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	walk(dashboard)
	nDashboard := len(exprs)
	rulesText, err := os.ReadFile("../../examples/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(rulesText, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alerts.yaml: a rule without alert or expr: %+v", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	if nDashboard < 10 || len(exprs)-nDashboard < 5 {
		t.Fatalf("%d dashboard and %d alert expressions: the files were not read as meant", nDashboard, len(exprs)-nDashboard)
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := promqlNames(e)
		if len(names) == 0 {
			t.Errorf("no metric found in %q", e)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] && n != "up" && !onlyWithBPFLSM[n] {
				t.Errorf("%q uses %s, which the broker does not export", e, n)
			}
		}
	}
	for _, n := range []string{"capfd_broker_operations_total", "capfd_broker_clients_refused_total", "capfd_broker_operation_duration_seconds_bucket", "process_open_fds"} {
		if !used[n] {
			t.Errorf("the examples do not use %s (the parser missed it?)", n)
		}
	}
}

// connectIdentities returns the client identity of every connect record
// in the broker's audit log.
func (b *brokerProc) connectIdentities(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(b.audit)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for line := range strings.Lines(string(data)) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec["msg"] == "connect" {
			out = append(out, rec["client"].(map[string]any))
		}
	}
	return out
}

// ownCgroup is this process's cgroup v2 path.
func ownCgroup(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if cg, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return cg
		}
	}
	t.Skip("needs cgroup v2")
	return ""
}

// TestIdentityAcrossPIDNamespaces: the broker identifies a client (pid,
// executable, cgroup: what exe and cgroup rules match) when the two are
// in different pid namespaces. A client in a child namespace of the
// broker's has a pid there (SO_PEERCRED); a client the broker's own
// namespace cannot see (the broker in a child namespace, as in a
// container) has pid 0 in SO_PEERCRED, and is found through its pidfd
// (SO_PEERPIDFD) in the /proc of the broker's mount namespace, which sees
// it. Each rule here matches by executable, so being served at all shows
// the identity was read.
func TestIdentityAcrossPIDNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("new pid namespaces need root (CAP_SYS_ADMIN)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cgroup := ownCgroup(t)
	grants := []grantSpec{{"data", tree(t), "ro"}}
	match := fmt.Sprintf("{uid: %d, exe: %q}", os.Getuid(), exe)
	check := func(t *testing.T, b *brokerProc, pid int) {
		t.Helper()
		// Written just after the hello reply the client has read.
		var ids []map[string]any
		testwait.Until(t, "the connect record", asyncTimeout, func() bool {
			ids = b.connectIdentities(t)
			return len(ids) > 0
		})
		if len(ids) != 1 {
			t.Fatalf("connect records: %v, want one", ids)
		}
		id := ids[0]
		if id["pid"] != float64(pid) || id["exe"] != exe || id["cgroup"] != cgroup {
			t.Errorf("client identity %v, want pid %d, exe %s, cgroup %s", id, pid, exe, cgroup)
		}
	}

	t.Run("client in a child namespace", func(t *testing.T) {
		b := startBrokerWith(t, grants, brokerOptions{match: match})
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "CAPFD_E2E_ROLE=client-roots", "CAPFD_E2E_SOCKET="+b.socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
		out, err := cmd.Output()
		if err != nil || string(out) != "data\n" {
			t.Fatalf("client in a new pid namespace: %q, %v", out, err)
		}
		check(t, b, cmd.Process.Pid)
	})

	t.Run("broker in a child namespace", func(t *testing.T) {
		b := startBrokerWith(t, grants, brokerOptions{match: match, attr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}})
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid())); err != nil || !strings.Contains(string(data), "NSpid:\t"+strconv.Itoa(b.pid())+"\t1\n") {
			t.Fatalf("the broker is not pid 1 of a namespace of its own: %s %v", data, err)
		}
		r := dial(t, b)
		if roots := r.Roots(); len(roots) != 1 || roots[0] != "data" {
			t.Fatalf("roots %v", roots)
		}
		check(t, b, os.Getpid())
	})
}

// TestKubernetesExample checks examples/kubernetes/capfd-sidecar.yaml,
// which cannot be run here, for the names that must agree: the broker's
// configuration (the ConfigMap) is valid and is where the broker's
// --config reads it; its socket is in the emptyDir both containers mount;
// the app's CAPFD_BROKER_SOCKET names it; only the broker mounts the
// granted directory; the probe's client (root) has a rule.
func TestKubernetesExample(t *testing.T) {
	data, err := os.ReadFile("../../examples/kubernetes/capfd-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type mount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}
	type container struct {
		Name         string   `yaml:"name"`
		Args         []string `yaml:"args"`
		VolumeMounts []mount  `yaml:"volumeMounts"`
		Env          []struct{ Name, Value string }
		Readiness    *struct {
			Exec struct{ Command []string }
		} `yaml:"readinessProbe"`
		Security struct {
			RunAsUser *int `yaml:"runAsUser"`
		} `yaml:"securityContext"`
	}
	var config string
	var pod struct {
		ShareProcessNamespace bool `yaml:"shareProcessNamespace"`
		Volumes               []struct {
			Name      string    `yaml:"name"`
			EmptyDir  *struct{} `yaml:"emptyDir"`
			ConfigMap *struct{ Name string }
		}
		Containers []container
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
			Spec     yaml.Node
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch doc.Kind {
		case "ConfigMap":
			config = doc.Data["broker.yaml"]
		case "Pod":
			if err := doc.Spec.Decode(&pod); err != nil {
				t.Fatal(err)
			}
		}
	}
	fc, err := broker.ParseFile([]byte(config))
	if err != nil {
		t.Fatalf("the ConfigMap's broker.yaml: %v", err)
	}
	policy, _ := fc.Policy()
	mountOf := func(c container, path string) string {
		for _, m := range c.VolumeMounts {
			if path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/") {
				return m.Name
			}
		}
		return ""
	}
	emptyDirs := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil {
			emptyDirs[v.Name] = true
		}
	}
	var brokerC, appC container
	for _, c := range pod.Containers {
		if len(c.Args) > 0 && c.Args[0] == "broker" {
			brokerC = c
		} else {
			appC = c
		}
	}
	if brokerC.Name == "" || appC.Name == "" {
		t.Fatalf("want a broker container and an app container: %+v", pod.Containers)
	}
	if i := slices.Index(brokerC.Args, "--config"); i < 0 || i+1 == len(brokerC.Args) || filepath.Base(brokerC.Args[i+1]) != "broker.yaml" || mountOf(brokerC, brokerC.Args[i+1]) != "capfd-config" {
		t.Errorf("the broker's --config (%v) is not the ConfigMap's broker.yaml as mounted", brokerC.Args)
	}
	vol := mountOf(brokerC, fc.Socket)
	if !emptyDirs[vol] || mountOf(appC, fc.Socket) != vol {
		t.Errorf("socket %s: in volume %q (broker) and %q (app); want one emptyDir both mount", fc.Socket, vol, mountOf(appC, fc.Socket))
	}
	for _, m := range appC.VolumeMounts {
		for _, m2 := range brokerC.VolumeMounts {
			if m.MountPath == m2.MountPath && m.Name != m2.Name {
				t.Errorf("%s is volume %s in the app and %s in the broker", m.MountPath, m.Name, m2.Name)
			}
		}
	}
	env := ""
	for _, e := range appC.Env {
		if e.Name == "CAPFD_BROKER_SOCKET" {
			env = e.Value
		}
	}
	if env != fc.Socket {
		t.Errorf("the app's CAPFD_BROKER_SOCKET %q, want the broker's socket %s", env, fc.Socket)
	}
	var appUID *int = appC.Security.RunAsUser
	served := false
	for _, r := range policy.Rules {
		if r.Match.UID != nil && appUID != nil && int(*r.Match.UID) == *appUID {
			served = true
		}
		for _, g := range r.Grants {
			if mountOf(brokerC, g.Path) == "" || mountOf(appC, g.Path) != "" {
				t.Errorf("grant %s (%s): want it mounted in the broker only", g.Name, g.Path)
			}
		}
	}
	if !served {
		t.Errorf("no rule matches the app's runAsUser %v", appUID)
	}
	if p := brokerC.Readiness; p != nil {
		probe := p.Exec.Command
		if !slices.Contains(probe, fc.Socket) {
			t.Errorf("the readiness probe %v does not name the socket", probe)
		}
		if _, ok := policy.Lookup(broker.Identity{UID: 0}); !ok {
			t.Error("the readiness probe runs as root, which no rule serves")
		}
	}
	if !pod.ShareProcessNamespace {
		t.Error("shareProcessNamespace is off: the README says exe and cgroup rules rely on it")
	}
}
