package enforce

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// TestSetup runs every mode on this kernel; what each must do follows from
// the backends' own probes, so the test holds on the host (BPF LSM
// refused) and in the VMs (BPF LSM loads).
func TestSetup(t *testing.T) {
	bpfErr := lsm.Probe()
	_, landlockErr := landlock.Probe()
	seccompErr := seccomp.Probe()
	probed := map[string]error{BackendBPFLSM: bpfErr, BackendLandlock: landlockErr, BackendSeccomp: seccompErr}

	for _, mode := range []Mode{Off, Auto, Require} {
		t.Run(mode.String(), func(t *testing.T) {
			var logBuf brokertest.AuditLog
			k, err := Setup(mode, logBuf.Logger(), nil)
			if mode == Require && bpfErr != nil {
				if err == nil {
					k.Close()
					t.Fatal("require without BPF LSM: Setup succeeded")
				}
				if !strings.Contains(err.Error(), "require") || !strings.Contains(err.Error(), bpfErr.Error()) {
					t.Fatalf("require: error %q does not name the mode and the probe's reason %q", err, bpfErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()

			wantEnforcing := mode != Off && bpfErr == nil
			if k.Enforcing() != wantEnforcing {
				t.Errorf("Enforcing() = %v, want %v (probe: %v)", k.Enforcing(), wantEnforcing, bpfErr)
			}
			for _, b := range k.Backends() {
				probeErr, ok := probed[b.Name]
				if !ok {
					t.Fatalf("unknown backend %q", b.Name)
				}
				wantActive := mode != Off && probeErr == nil
				if b.Active != wantActive {
					t.Errorf("%s: active %v, want %v (probe: %v)", b.Name, b.Active, wantActive, probeErr)
				}
				if mode == Off {
					continue // one line for all, below
				}
				// The log names every backend, and why an inactive
				// one is not active.
				msg := "kernel backend active"
				if !b.Active {
					msg = "kernel backend not active"
				}
				found := false
				for _, rec := range logBuf.RecordsOf(t, msg) {
					if rec["backend"] == b.Name {
						found = true
						if !b.Active && mode != Off && !strings.Contains(rec["reason"].(string), probeErr.Error()) {
							t.Errorf("%s: logged reason %q, want the probe's %q", b.Name, rec["reason"], probeErr)
						}
					}
				}
				if !found {
					t.Errorf("%s: no %q log record", b.Name, msg)
				}
			}
			if mode == Off {
				// The operator's choice: one INFO line, no warnings.
				recs := logBuf.Records(t)
				if len(recs) != 1 || recs[0]["level"] != "INFO" || recs[0]["msg"] != "kernel enforcement of broker clients is off, as configured: clients are confined by the broker alone" {
					t.Errorf("kernel mode off logged %v, want one INFO line", recs)
				}
			} else if !wantEnforcing && len(logBuf.RecordsOf(t, "kernel enforcement of broker clients is off: clients are confined by the broker alone")) != 1 {
				t.Error("no log record saying clients are not confined by the kernel")
			}
		})
	}
}

// TestSetupCloseLeaksNothing: after a first cycle has filled the
// libraries' caches, a Setup and Close in every mode leave the process with
// the descriptors it had (programs, maps, links, the ring buffer, probes'
// descriptors all closed).
func TestSetupCloseLeaksNothing(t *testing.T) {
	cycle := func(mode Mode) {
		t.Helper()
		k, err := Setup(mode, nil, nil)
		if err != nil {
			if mode == Require {
				return // covered by TestSetup; nothing was kept
			}
			t.Fatal(err)
		}
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []Mode{Off, Auto, Require} {
		cycle(mode)
		before := openFDs(t)
		cycle(mode)
		if after := openFDs(t); after != before {
			t.Errorf("%v: %d descriptors open after Setup and Close, %d before", mode, after, before)
		}
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"", Auto, true}, {"auto", Auto, true}, {"off", Off, true}, {"require", Require, true},
		{"on", 0, false}, {"Auto", 0, false}, {"require ", 0, false},
	} {
		got, err := ParseMode(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseMode(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

// TestRegister checks the backend gauge against the probes: on the host
// bpf-lsm 0, landlock and seccomp 1.
func TestRegister(t *testing.T) {
	k, err := Setup(Auto, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	reg := prometheus.NewRegistry()
	if err := k.Register(reg); err != nil {
		t.Fatal(err)
	}
	got := gather(t, reg, "capfd_kernel_backend_active")
	for _, b := range k.Backends() {
		want := 0.0
		if b.Active {
			want = 1
		}
		if v, ok := got[b.Name]; !ok || v != want {
			t.Errorf("capfd_kernel_backend_active{backend=%q} = %v (present %v), want %v", b.Name, v, ok, want)
		}
	}
	if len(got) != 3 {
		t.Errorf("backend gauge has %d series, want 3: %v", len(got), got)
	}
	if lsm.Probe() != nil && got[BackendBPFLSM] != 0 {
		t.Error("bpf-lsm reported active on a kernel that refuses it")
	}
	if err := k.Register(reg); err == nil {
		t.Error("registering twice in one registry succeeded")
	}
}

// fakeKernel is a Kernel around a fake enforcer.
func fakeKernel(t *testing.T, audit *brokertest.AuditLog) (*Kernel, *fakeEnforcer) {
	t.Helper()
	fe := newFakeEnforcer()
	k := start(Auto, fe, []Backend{{Name: BackendBPFLSM, Active: true, Detail: "fake"}}, nil, audit.Logger())
	t.Cleanup(func() { k.Close() })
	return k, fe
}

// identityOf names a running child as the broker would: its pid and a
// fresh pidfd (each connection has its own).
func identityOf(t *testing.T, c *child) broker.Identity {
	t.Helper()
	pidfd, err := unix.PidfdOpen(c.cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	return broker.Identity{PID: int32(c.cmd.Process.Pid), PidFD: pidfd}
}

func inodeOf(t *testing.T, path string) inode {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return inode{st.Dev, st.Ino}
}

// TestOnConnectSandboxes follows a process through two connections, a
// second process, disconnects and a reconnect.
func TestOnConnectSandboxes(t *testing.T) {
	var audit brokertest.AuditLog
	k, fe := fakeKernel(t, &audit)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ro, rw := rights.Uniform(rights.ReadOnly), rights.Uniform(rights.ReadWrite)
	first, second := startChild(t, "wait"), startChild(t, "wait")
	pid1, pid2 := first.cmd.Process.Pid, second.cmd.Process.Pid

	release1, err := k.OnConnect(identityOf(t, first), objects(t, broker.Grant{Name: "a", Path: a, Rights: ro}))
	if err != nil {
		t.Fatal(err)
	}
	s1 := fe.markOf(pid1)
	if s1 == 0 {
		t.Fatal("first connection did not mark the process")
	}
	if g := fe.grantsOf(s1); len(g) != 1 || g[inodeOf(t, a)] != (fakeGrant{ro, true}) {
		t.Fatalf("sandbox %d grants %v, want a: ro (dir)", s1, g)
	}

	// A second connection of the same process joins its sandbox; the
	// grants of both add up.
	release2, err := k.OnConnect(identityOf(t, first), objects(t, broker.Grant{Name: "a", Path: a, Rights: rw}, broker.Grant{Name: "b", Path: b, Rights: ro}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fe.markOf(pid1); got != s1 {
		t.Fatalf("second connection re-marked the process: sandbox %d, was %d", got, s1)
	}
	g := fe.grantsOf(s1)
	if len(g) != 2 || g[inodeOf(t, a)].r != rights.Uniform(rights.ReadOnly.Union(rights.ReadWrite)) || g[inodeOf(t, b)].r != ro {
		t.Fatalf("sandbox %d grants after join %v", s1, g)
	}

	// Another process gets a sandbox of its own.
	release3, err := k.OnConnect(identityOf(t, second), objects(t, broker.Grant{Name: "b", Path: b, Rights: ro}))
	if err != nil {
		t.Fatal(err)
	}
	s2 := fe.markOf(pid2)
	if s2 == 0 || s2 == s1 {
		t.Fatalf("second process: sandbox %d (first's is %d)", s2, s1)
	}
	if k.Sandboxes() != 2 {
		t.Fatalf("Sandboxes() = %d, want 2", k.Sandboxes())
	}

	// The sandbox outlives its first connection, not its last; a
	// release runs once however often it is called.
	release1()
	release1()
	if len(fe.grantsOf(s1)) != 2 {
		t.Fatalf("one of two connections ended: sandbox %d grants %v", s1, fe.grantsOf(s1))
	}
	release2()
	if len(fe.grantsOf(s1)) != 0 || k.Sandboxes() != 1 {
		t.Fatalf("last connection ended: sandbox %d grants %v, %d live", s1, fe.grantsOf(s1), k.Sandboxes())
	}
	// Still marked: disconnecting is no way out of the sandbox.
	if got := fe.markOf(pid1); got != s1 {
		t.Fatalf("after the last release the process is marked %d, want still %d", got, s1)
	}
	if recs := audit.RecordsOf(t, "kernel sandbox revoked"); len(recs) != 1 || recs[0]["sandbox"] != float64(s1) {
		t.Errorf("revocation audit records %v, want one for sandbox %d", recs, s1)
	}

	// Reconnecting marks it afresh, with the new connection's grants.
	release4, err := k.OnConnect(identityOf(t, first), objects(t, broker.Grant{Name: "b", Path: b, Rights: ro}))
	if err != nil {
		t.Fatal(err)
	}
	s3 := fe.markOf(pid1)
	if s3 == s1 || s3 == s2 || s3 == 0 {
		t.Fatalf("reconnect: sandbox %d (old %d, other %d)", s3, s1, s2)
	}
	if g := fe.grantsOf(s3); len(g) != 1 || g[inodeOf(t, b)].r != ro {
		t.Fatalf("reconnect grants %v", g)
	}
	release3()
	release4()
	if k.Sandboxes() != 0 {
		t.Fatalf("Sandboxes() = %d after every release", k.Sandboxes())
	}
}

// TestOnConnectRefuses: a client the kernel layer cannot confine is not
// served.
func TestOnConnectRefuses(t *testing.T) {
	var audit brokertest.AuditLog
	k, fe := fakeKernel(t, &audit)
	dir := t.TempDir()
	c := startChild(t, "wait")
	grants := objects(t, broker.Grant{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)})

	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	cases := []struct {
		name   string
		id     broker.Identity
		grants []broker.GrantedObject
		want   string
	}{
		{"no pidfd", broker.Identity{PID: int32(c.cmd.Process.Pid), PidFD: -1}, grants, "no pidfd"},
		{"the broker itself", broker.Identity{PID: int32(os.Getpid()), PidFD: self}, grants, "broker's own process"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release, err := k.OnConnect(tc.id, tc.grants)
			if err == nil || release != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OnConnect = %v, %v; want an error containing %q", release != nil, err, tc.want)
			}
			if got := fe.markOf(c.cmd.Process.Pid); got != 0 {
				t.Fatalf("a refused client was marked (sandbox %d)", got)
			}
		})
	}

	// A grant the kernel map refuses: the fresh sandbox is revoked and
	// the client refused.
	fe.failGrant = errors.New("map full")
	release, err := k.OnConnect(identityOf(t, c), grants)
	if err == nil || release != nil {
		t.Fatalf("OnConnect with a failing grant = %v", err)
	}
	if k.Sandboxes() != 0 || len(fe.revoked) != 1 {
		t.Fatalf("after a failed grant: %d live sandboxes, revoked %v", k.Sandboxes(), fe.revoked)
	}
	fe.failGrant = nil

	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.OnConnect(identityOf(t, c), grants); !errors.Is(err, errClosed) {
		t.Fatalf("OnConnect after Close: %v", err)
	}
}

// TestDenialsReported: what the enforcer reports reaches the audit log
// (naming the client while its sandbox is live) and the metrics.
func TestDenialsReported(t *testing.T) {
	var audit brokertest.AuditLog
	k, fe := fakeKernel(t, &audit)
	reg := prometheus.NewRegistry()
	if err := k.Register(reg); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "wait")
	release, err := k.OnConnect(identityOf(t, c), objects(t, broker.Grant{Name: "d", Path: t.TempDir(), Rights: rights.Uniform(rights.ReadOnly)}))
	if err != nil {
		t.Fatal(err)
	}
	sb := fe.markOf(c.cmd.Process.Pid)
	fe.denials <- lsm.Denial{Hook: "file_open", Pid: c.cmd.Process.Pid, Sandbox: sb, Dev: 7, Ino: 42, Needed: rights.Write, Granted: rights.ReadOnly}
	fe.mu.Lock()
	fe.counts["file_open"] = 3
	fe.counts[lsm.CounterRingbufFull] = 1
	fe.mu.Unlock()

	testwait.Until(t, "the denial in the audit log", asyncTimeout, func() bool { return len(audit.RecordsOf(t, "kernel denied")) == 1 })
	rec := audit.RecordsOf(t, "kernel denied")[0]
	want := map[string]any{"hook": "file_open", "pid": float64(c.cmd.Process.Pid), "sandbox": float64(sb),
		"dev": float64(7), "ino": float64(42), "needed": rights.Write.String(), "granted": rights.ReadOnly.String()}
	for key, v := range want {
		if rec[key] != v {
			t.Errorf("audit %s = %v, want %v", key, rec[key], v)
		}
	}
	if client, _ := rec["client"].(map[string]any); client == nil || client["pid"] != float64(c.cmd.Process.Pid) {
		t.Errorf("audit record does not name the client: %v", rec)
	}

	if got := gather(t, reg, "capfd_kernel_denials_total"); got["file_open"] != 3 || len(got) != 1 {
		t.Errorf("capfd_kernel_denials_total = %v, want file_open 3", got)
	}
	if got := gather(t, reg, "capfd_kernel_denials_unreported_total"); got[lsm.CounterRingbufFull] != 1 {
		t.Errorf("capfd_kernel_denials_unreported_total = %v", got)
	}
	if got := gather(t, reg, "capfd_kernel_sandboxes"); got[""] != 1 {
		t.Errorf("capfd_kernel_sandboxes = %v, want 1", got)
	}

	// After the disconnect the process is still marked; its denials say
	// the sandbox was revoked.
	release()
	fe.denials <- lsm.Denial{Hook: "file_open", Pid: c.cmd.Process.Pid, Sandbox: sb, Needed: rights.Read}
	testwait.Until(t, "the second denial", asyncTimeout, func() bool { return len(audit.RecordsOf(t, "kernel denied")) == 2 })
	// A denial read after the revocation (the ring buffer is drained
	// asynchronously) still names the client the sandbox was made for.
	rec = audit.RecordsOf(t, "kernel denied")[1]
	if rec["sandbox_state"] != "revoked" {
		t.Errorf("denial after revocation: %v", rec)
	}
	if client, _ := rec["client"].(map[string]any); client == nil || client["pid"] != float64(c.cmd.Process.Pid) {
		t.Errorf("denial after revocation does not name the client: %v", rec)
	}
	if got := gather(t, reg, "capfd_kernel_sandboxes"); got[""] != 0 {
		t.Errorf("capfd_kernel_sandboxes = %v after release, want 0", got)
	}
}

// TestBrokerWithKernelLayer runs a broker with the kernel layer attached,
// in auto mode, on this kernel. Without BPF LSM it must serve as before;
// with it, an in-process client is the broker itself and must be refused
// rather than marked (the VM's guest test covers real clients).
func TestBrokerWithKernelLayer(t *testing.T) {
	var audit brokertest.AuditLog
	k, err := Setup(Auto, nil, audit.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte(grantedContent), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := broker.New(broker.Config{
		Policy:    broker.Policy{Rules: []broker.Rule{{Name: "all", Grants: []broker.Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}}}},
		Audit:     audit.Logger(),
		OnConnect: k.OnConnect,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Register(srv.Registry()); err != nil {
		t.Fatal(err)
	}
	sock, stop := brokertest.Listen(t, "", srv.Serve)
	defer stop() // before k.Close

	r, err := capfd.Dial(sock)
	if k.Enforcing() {
		if err == nil {
			r.Close()
			t.Fatal("the broker's own process was served while BPF LSM is loaded")
		}
		if len(audit.RecordsOf(t, "refused")) == 0 {
			t.Error("no refusal audited")
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
	if data, err := d.ReadFile("file"); err != nil || string(data) != grantedContent {
		t.Fatalf("read through the broker: %q, %v", data, err)
	}
	if got := gather(t, srv.Registry(), "capfd_kernel_backend_active"); len(got) != 3 || got[BackendBPFLSM] != 0 {
		t.Errorf("backend gauge on the broker's registry: %v", got)
	}
}

// objects opens each grant's directory as a broker would and returns it
// with the identity of what was opened.
func objects(t *testing.T, grants ...broker.Grant) []broker.GrantedObject {
	t.Helper()
	out := make([]broker.GrantedObject, len(grants))
	for i, g := range grants {
		fd, err := unix.Open(g.Path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		id, err := vfsops.IDOf(fd)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = broker.GrantedObject{Grant: g, ID: id}
	}
	return out
}
