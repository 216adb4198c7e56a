package broker

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

func listen(t *testing.T) (*net.UnixListener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "broker.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	return ln, path
}

func ptr[T any](v T) *T { return &v }

func ownCgroup(t *testing.T) string {
	dir, err := vfsops.OpenProcPid(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cg, err := readCgroup(dir)
	if err != nil {
		t.Skipf("needs cgroup v2 (/proc/self/cgroup has no 0:: line): %v", err)
	}
	return cg
}

// TestServePolicy checks that Serve grants by identity: a rule matching
// this process's uid and executable gets its grants; with only a rule for
// another uid, the same process is refused and told why.
func TestServePolicy(t *testing.T) {
	dir := testTree(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	grants := []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}
	tests := []struct {
		name    string
		rules   []Rule
		granted bool
	}{
		{"uid and exe match", []Rule{{Name: "me", Match: Match{UID: ptr(uint32(os.Getuid())), Exe: exe}, Grants: grants}}, true},
		{"exe pattern matches", []Rule{{Name: "glob", Match: Match{Exe: filepath.Dir(exe) + "/*"}, Grants: grants}}, true},
		{"first matching rule wins", []Rule{
			{Name: "other", Match: Match{UID: ptr(uint32(4242))}},
			{Name: "me", Match: Match{GID: ptr(uint32(os.Getgid()))}, Grants: grants},
		}, true},
		{"other uid only", []Rule{{Name: "other", Match: Match{UID: ptr(uint32(4242))}, Grants: grants}}, false},
		{"other exe only", []Rule{{Name: "other", Match: Match{Exe: "/usr/bin/not-this"}, Grants: grants}}, false},
		{"cgroup mismatch", []Rule{{Name: "other", Match: Match{Cgroup: "/no/such/cgroup"}, Grants: grants}}, false},
		{"own cgroup", []Rule{{Name: "cg", Match: Match{Cgroup: ownCgroup(t)}, Grants: grants}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var audit brokertest.AuditLog
			srv := newServer(t, Config{Policy: Policy{Rules: tc.rules}, Audit: audit.Logger()})
			path := serving(t, srv)
			r, err := capfd.Dial(path)
			if !tc.granted {
				if err == nil {
					r.Close()
					t.Fatal("refused client was served")
				}
				var be *capfd.BrokerError
				if !errors.As(err, &be) || be.Code != wire.CodeRefused {
					t.Fatalf("refusal: %v, want a refused BrokerError", err)
				}
				recs := audit.Records(t)
				if len(recs) == 0 || recs[0]["msg"] != "refused" {
					t.Errorf("audit log %v lacks the refusal", recs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			d, err := r.Dir("data")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if data, err := d.ReadFile("hello.txt"); err != nil || string(data) != "hello, broker\n" {
				t.Fatalf("ReadFile: %q %v", data, err)
			}
			client := audit.Records(t)[0]["client"].(map[string]any)
			if client["exe"] != exe || client["pid"].(float64) != float64(os.Getpid()) {
				t.Errorf("audit identity %v, want exe %s pid %d", client, exe, os.Getpid())
			}
		})
	}
}

// shutdownBlocked is a Serve shut down while a client's request is blocked
// in the broker.
type shutdownBlocked struct {
	rc       *rawClient
	lockID   uint32       // the blocked request
	path     string       // Serve's socket
	unlock   func()       // releases the lock the request waits for
	canceled time.Time    // when Serve's context was canceled
	done     <-chan error // Serve's result
}

// shutdownWithLockBlocked starts Serve with cfg and a rule granting a lock
// tree read-only as "r"; a client asks for an exclusive lock of its file a,
// which the test holds, and once the request blocks in the broker Serve's
// context is canceled.
func shutdownWithLockBlocked(t *testing.T, cfg Config) shutdownBlocked {
	t.Helper()
	dir := lockTree(t)
	s := shutdownBlocked{unlock: heldLock(t, filepath.Join(dir, "a"))}
	cfg.Policy = Policy{Rules: []Rule{{Name: "all", Grants: []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}}}}
	srv := newServer(t, cfg)
	ln, path := listen(t)
	s.path = path
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	s.done = done
	go func() { done <- srv.Serve(ctx, ln) }()

	s.rc = newRawClient(t, rawDial(t, path))
	h := s.rc.open(s.rc.roots["r"], "a", unix.O_RDONLY, rights.Read|rights.Lock)
	s.lockID = s.rc.send(&wire.Request{Op: wire.OpLock, Handle: h, SysFlags: unix.LOCK_EX})
	waitBlocked(t, srv, "the lock request in the broker")
	s.canceled = time.Now()
	cancel()
	return s
}

// TestShutdownDrains cancels Serve while a request is in flight: the
// request is still answered, then Serve returns.
func TestShutdownDrains(t *testing.T) {
	s := shutdownWithLockBlocked(t, Config{})
	// A deliberate wait: that Serve does not return is shown only by
	// giving it time to.
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: s.path, Net: "unixpacket"}); err == nil {
		t.Error("a new client could connect after shutdown began")
	}
	s.unlock()
	rep, _ := s.rc.recv()
	if rep.ID != s.lockID || rep.Err != nil {
		t.Fatalf("in-flight request: reply %d %+v, want %d answered", rep.ID, rep.Err, s.lockID)
	}
	if err := testwait.Recv(t, "Serve to return after draining", 10*time.Second, s.done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestAuditDenial checks the audit record of a denial names the client,
// the operation, the path and the missing rights; and that with AuditAll
// successful operations are recorded too.
func TestAuditDenial(t *testing.T) {
	for _, all := range []bool{false, true} {
		dir := testTree(t)
		var audit brokertest.AuditLog
		srv := newServer(t, Config{Audit: audit.Logger(), AuditAll: all})
		rc := rawServed(t, srv, []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
		rc.call(&wire.Request{Op: wire.OpStat, Handle: rc.roots["data"], Path: "hello.txt"})
		rc.call(&wire.Request{Op: wire.OpMkdir, Handle: rc.roots["data"], Path: "newdir", Mode: 0o755})
		var denied, ops int
		for _, rec := range audit.Records(t) {
			switch rec["msg"] {
			case "denied":
				denied++
				if rec["op"] != "mkdir" || rec["path"] != "newdir" || rec["missing"] != "mkdir" || rec["level"] != "WARN" {
					t.Errorf("denial record %v", rec)
				}
			case "operation":
				ops++
			}
		}
		if denied != 1 {
			t.Errorf("AuditAll=%v: %d denial records, want 1", all, denied)
		}
		if all && ops != 1 || !all && ops != 0 {
			t.Errorf("AuditAll=%v: %d operation records", all, ops)
		}
	}
}

func TestCheckMetricsAddr(t *testing.T) {
	tests := []struct {
		addr  string
		force bool
		ok    bool
	}{
		{"127.0.0.1:9464", false, true},
		{"[::1]:9464", false, true},
		{"localhost:9464", false, true},
		{"127.0.0.53:0", false, true},
		{":9464", false, false},
		{"0.0.0.0:9464", false, false},
		{"10.1.2.3:9464", false, false},
		{"example.com:9464", false, false},
		{"0.0.0.0:9464", true, true},
		{"no-port", false, false},
	}
	for _, tc := range tests {
		err := CheckMetricsAddr(tc.addr, tc.force)
		if (err == nil) != tc.ok {
			t.Errorf("CheckMetricsAddr(%q, %v) = %v, want ok=%v", tc.addr, tc.force, err, tc.ok)
		}
		if err != nil && !tc.ok && strings.Contains(tc.addr, ":") && tc.addr != "no-port" && !errors.Is(err, ErrNonLoopback) {
			t.Errorf("CheckMetricsAddr(%q): %v does not wrap ErrNonLoopback", tc.addr, err)
		}
	}
}

func TestParseFile(t *testing.T) {
	good := `
socket: /run/capfd.sock
socket_mode: "0660"
metrics: {address: "127.0.0.1:9464"}
audit: {path: "-", all_operations: true}
limits: {max_handles: 10, max_inflight: 4, max_message: 65536}
clients:
  - name: web
    match: {uid: 33, exe: /usr/sbin/nginx, cgroup: "/system.slice/*"}
    grants:
      - {name: www, path: /srv/www, rights: ro}
      - {name: up, path: /srv/up, rights: "lookup,create:write"}
`
	fc, err := ParseFile([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := fc.Policy()
	if len(p.Rules) != 1 || *p.Rules[0].Match.UID != 33 || len(p.Rules[0].Grants) != 2 {
		t.Fatalf("policy %+v", p)
	}
	if g := p.Rules[0].Grants[1]; g.Rights.Base != rights.Lookup|rights.Create || g.Rights.Inherit != rights.Write {
		t.Errorf("grant rights %v", g.Rights)
	}
	if m, _ := fc.Mode(); m != 0o660 {
		t.Errorf("mode %o", m)
	}

	bad := []struct{ name, text, want string }{
		{"no socket", "clients: []", "socket"},
		{"unknown key", "socket: /s\ngrant: []", "grant"},
		{"bad rights", "socket: /s\nclients: [{name: a, grants: [{name: g, path: /x, rights: fly}]}]", "unknown right"},
		{"relative path", "socket: /s\nclients: [{name: a, grants: [{name: g, path: x, rights: ro}]}]", "not absolute"},
		{"duplicate grant", "socket: /s\nclients: [{name: a, grants: [{name: g, path: /x, rights: ro}, {name: g, path: /y, rights: ro}]}]", "twice"},
		{"bad mode", "socket: /s\nsocket_mode: rwx", "socket_mode"},
		{"bad pattern", "socket: /s\nclients: [{name: a, match: {exe: \"[\"}}]", "pattern"},
		{"empty inherit", "socket: /s\nclients: [{name: a, grants: [{name: g, path: /x, rights: \"ro:\"}]}]", "inherit"},
	}
	for _, tc := range bad {
		if _, err := ParseFile([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestSocketpairLaunch is the launcher's path: a child process gets the
// client end through ExtraFiles and CAPFD_BROKER_FD and is served its grants.
func TestSocketpairLaunch(t *testing.T) {
	dir := testTree(t)
	brokerEnd, clientEnd, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, Config{})
	done := make(chan error, 1)
	go func() {
		done <- srv.ServeConn(context.Background(), brokerEnd, []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	}()
	childtest.Child{
		Test:       "TestLaunchedChild",
		Env:        []string{"CAPFD_TEST_CHILD=1", capfd.EnvBrokerFD + "=3"},
		ExtraFiles: []*os.File{clientEnd},
	}.Pass(t)
	clientEnd.Close()
	if err := testwait.Recv(t, "ServeConn to return when the child exited", 10*time.Second, done); err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
}

// TestLaunchedChild runs only as TestSocketpairLaunch's child.
func TestLaunchedChild(t *testing.T) {
	if os.Getenv("CAPFD_TEST_CHILD") != "1" {
		t.Skip("runs as the child of TestSocketpairLaunch")
	}
	r, err := capfd.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	data, err := d.ReadFile("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello, broker\n"; string(data) != want {
		t.Errorf("read %q through the launcher's socket, want %q", data, want)
	}
}

// TestExampleConfig keeps examples/broker.yaml valid.
func TestExampleConfig(t *testing.T) {
	fc, err := LoadFile("../examples/broker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := fc.Policy()
	if len(p.Rules) == 0 || fc.Socket == "" || fc.Metrics.Address == "" {
		t.Errorf("example config is empty: %+v", fc)
	}
	if err := CheckMetricsAddr(fc.Metrics.Address, fc.Metrics.AllowNonLoopback); err != nil {
		t.Errorf("example metrics address: %v", err)
	}
	// The keys the example documents reach their fields (LoadFile
	// already fails on unknown keys).
	optional := false
	for _, r := range p.Rules {
		for _, g := range r.Grants {
			optional = optional || g.Optional
		}
	}
	shown := []struct {
		key string
		ok  bool
	}{
		{"idle_timeout", fc.IdleTimeout != ""},
		{"limits.max_blocking", fc.Limits.MaxBlocking != 0},
		{"limits.max_blocking_total", fc.Limits.MaxBlockingTotal != 0},
		{"grants[].optional", optional},
	}
	for _, k := range shown {
		if !k.ok {
			t.Errorf("example config does not show %s", k.key)
		}
	}
	if _, err := ParseIdleTimeout(fc.IdleTimeout); err != nil {
		t.Errorf("example idle_timeout: %v", err)
	}
}

// TestShutdownGivesUpOnStuckRequests cancels Serve while a request is
// blocked for good (a lock the test never releases in time): Serve still
// returns, after the drain timeout.
func TestShutdownGivesUpOnStuckRequests(t *testing.T) {
	s := shutdownWithLockBlocked(t, Config{DrainTimeout: 200 * time.Millisecond})
	if err := testwait.Recv(t, "Serve to return despite the stuck request", 10*time.Second, s.done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if el := time.Since(s.canceled); el < 150*time.Millisecond {
		t.Errorf("Serve returned after %v, before the drain timeout", el)
	}
}

// TestLimitClients refuses a client beyond MaxClients with a limit error,
// and serves one again once a slot frees.
func TestLimitClients(t *testing.T) {
	dir := testTree(t)
	_, path := servedOneSlot(t, Config{}, "d", dir)
	first, err := capfd.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = capfd.Dial(path)
	var be *capfd.BrokerError
	if !errors.As(err, &be) || be.Code != wire.CodeLimit {
		t.Fatalf("second client: %v, want a limit error", err)
	}
	first.Close()
	// The broker frees the slot once it notices the first client left.
	var again *capfd.Remote
	if !testwait.For(5*time.Second, func() bool { again, err = capfd.Dial(path); return err == nil }) {
		t.Fatalf("a client after the first left: %v", err)
	}
	again.Close()
}

// TestHandshakeRequired refuses a client whose first request is not hello.
func TestHandshakeRequired(t *testing.T) {
	srv := newServer(t, Config{})
	a, b := brokertest.Socketpair(t)
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(context.Background(), a, nil) }()
	c := wire.NewConn(b)
	msg, _ := wire.AppendRequest(nil, &wire.Request{ID: 5, Op: wire.OpStat, Handle: 1, Path: "x"})
	c.Send(msg, -1)
	rep, _, err := c.RecvReply(make([]byte, wire.MaxMessage))
	if err != nil || rep.Err == nil || rep.ID != 5 || !strings.Contains(rep.Err.Message, "hello") {
		t.Fatalf("reply %+v %v", rep, err)
	}
	if err := <-done; err == nil {
		t.Error("ServeConn accepted a client that skipped the handshake")
	}
}

// TestHandshakeVersions negotiates with clients of other version ranges:
// a newer client is answered with the version both speak; one that speaks
// only versions this broker does not is refused with a clear error.
func TestHandshakeVersions(t *testing.T) {
	tests := []struct {
		min, max uint8
		ok       bool
		want     uint8
	}{
		{1, 1, true, 1},
		{1, 7, true, wire.MaxVersion},
		{2, 7, true, 2},
		{3, 7, false, 0},
	}
	for _, tc := range tests {
		srv := newServer(t, Config{})
		a, b := brokertest.Socketpair(t)
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(context.Background(), a, nil) }()
		c := wire.NewConn(b)
		msg, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpHello, VersionMin: tc.min, VersionMax: tc.max, Requested: rights.All | 1<<63})
		c.Send(msg, -1)
		rep, _, err := c.RecvReply(make([]byte, wire.MaxMessage))
		if err != nil {
			t.Fatal(err)
		}
		if tc.ok {
			if rep.Err != nil || rep.Version != tc.want || rep.Answer.Unknown != 1<<63 || rep.Answer.Supported != rights.All {
				t.Errorf("client %d..%d: %+v", tc.min, tc.max, rep)
			}
		} else if rep.Err == nil || !strings.Contains(rep.Err.Message, "no common protocol version") {
			t.Errorf("client %d..%d: %+v, want a version error", tc.min, tc.max, rep.Err)
		}
		b.Close()
		<-done
	}
}
