package broker

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// auditedServe serves dir read-only, as "data", to every client of a
// broker listening on sock, and returns the broker's audit log and a
// client's handle of the grant.
func auditedServe(t *testing.T, dir string) (*brokertest.AuditLog, *Server, string, *capfd.Dir) {
	t.Helper()
	grants := []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}
	audit := &brokertest.AuditLog{}
	srv := newServer(t, Config{Policy: Policy{Rules: []Rule{{Name: "me", Grants: grants}}}, Audit: audit.Logger()})
	sock := serving(t, srv)
	r, err := capfd.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return audit, srv, sock, d
}

// TestAuditEveryRefusal: every refusal is in the audit log without
// all_operations, escapes included ("../../etc/shadow", a symlink to
// /etc/shadow, through the Go client and from a raw client that skips
// its checks), each record with the connection's "conn", the one its
// connect record has; what is not a refusal (a missing file) is not.
func TestAuditEveryRefusal(t *testing.T) {
	dir := testTree(t)
	if err := os.Symlink("/etc/shadow", filepath.Join(dir, "shadow")); err != nil {
		t.Fatal(err)
	}
	audit, srv, sock, d := auditedServe(t, dir)
	for _, p := range []string{"../../etc/shadow", "shadow"} {
		if _, err := d.Open(p); !errors.Is(err, capfd.ErrEscape) {
			t.Errorf("open %s: %v, want ErrEscape", p, err)
		}
	}
	if _, err := d.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat missing: %v", err)
	}
	// A raw client: the broker's own check, whatever the client does.
	raw := newRawClient(t, rawDial(t, sock))
	rep, _ := raw.call(&wire.Request{Op: wire.OpOpen, Handle: raw.roots["data"], Path: "sub/../../../etc/shadow", Pair: rights.Pair{Base: rights.Read}})
	if rep.Err == nil || rep.Err.Code != wire.CodeEscape {
		t.Fatalf("raw escape: %+v, want an escape error", rep.Err)
	}
	// (The Go client refuses this one itself, before asking.)
	rep, _ = raw.call(&wire.Request{Op: wire.OpOpen, Handle: raw.roots["data"], Path: "hello.txt", SysFlags: uint32(os.O_RDWR), Pair: rights.Pair{Base: rights.Read | rights.Write}})
	if rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
		t.Fatalf("raw open for writing: %+v, want not capable", rep.Err)
	}

	connects := audit.RecordsOf(t, "connect")
	if len(connects) != 2 || connects[0]["conn"] == connects[1]["conn"] {
		t.Fatalf("connect records %v: want two, with different conn", connects)
	}
	first, second := connects[0]["conn"], connects[1]["conn"]
	type want struct {
		msg, path string
		conn      any
	}
	for _, w := range []want{
		{"escape", "../../etc/shadow", first},
		{"escape", "shadow", first},
		{"denied", "hello.txt", second},
		{"escape", "sub/../../../etc/shadow", second},
	} {
		found := false
		for _, rec := range audit.RecordsOf(t, w.msg) {
			if rec["path"] == w.path {
				found = true
				if rec["conn"] != w.conn || rec["level"] != "WARN" || rec["client"] == nil {
					t.Errorf("%s %s: record %v, want level WARN, conn %v and the client", w.msg, w.path, rec, w.conn)
				}
			}
		}
		if !found {
			t.Errorf("no %q audit record for %s in\n%v", w.msg, w.path, audit.Records(t))
		}
	}
	for _, rec := range audit.Records(t) {
		if rec["path"] == "missing" {
			t.Errorf("a missing file is no refusal, yet audited: %v", rec)
		}
		if rec["conn"] == nil {
			t.Errorf("audit record without conn: %v", rec)
		}
	}
	if got := testutil.ToFloat64(srv.m.ops.WithLabelValues(wire.OpOpen.String(), resultEscape)); got != 3 {
		t.Errorf(`operations_total{op="open",result="escape"} = %v, want 3`, got)
	}
}

// TestRefusalReasonsBounded: clients_refused_total counts by a reason from
// a fixed set, and nothing a client sends becomes a label value: after
// requests naming odd paths and refused connections, every label of every
// series the broker exports has a value of the broker's own.
func TestRefusalReasonsBounded(t *testing.T) {
	dir := testTree(t)
	grants := []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}
	audit, srv, sock, d := auditedServe(t, dir)
	const marker = "zz-client-chosen"
	for _, p := range []string{"../" + marker, marker + `"} 1`, "/etc/" + marker, "sub/../../" + marker + "\n"} {
		d.Open(p)
		d.Create(p)
		d.Remove(p)
	}
	// A client whose first message is no hello: reason handshake.
	uc := rawDial(t, sock)
	uc.Write([]byte("not a hello message at all: " + marker))
	buf := make([]byte, 4096)
	uc.Read(buf)
	uc.Close()
	// No rule for this client any more: refused, reason no_rule.
	if err := srv.SetPolicy(Policy{Rules: []Rule{{Name: "other", Match: Match{UID: ptr(uint32(4242))}, Grants: grants}}}); err != nil {
		t.Fatal(err)
	}
	if r2, err := capfd.Dial(sock); err == nil {
		r2.Close()
		t.Fatal("a client no rule matches was served after SetPolicy")
	}

	if got := testutil.ToFloat64(srv.m.refused.WithLabelValues(refusedNoRule)); got != 1 {
		t.Errorf(`clients_refused_total{reason="no_rule"} = %v, want 1`, got)
	}
	// A failed handshake is answered, then counted.
	testwait.Until(t, `clients_refused_total{reason="handshake"} 1`, asyncTimeout, func() bool {
		return testutil.ToFloat64(srv.m.refused.WithLabelValues(refusedHandshake)) == 1
	})
	refusedRecs := audit.RecordsOf(t, "refused")
	for _, rec := range refusedRecs {
		if !slices.Contains(RefusalReasons, rec["reason"].(string)) {
			t.Errorf("refused record's reason %q is not one of %v", rec["reason"], RefusalReasons)
		}
	}
	if len(refusedRecs) != 2 {
		t.Errorf("refused records %v, want two", refusedRecs)
	}

	families, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				if strings.Contains(v, marker) || strings.ContainsAny(v, "/\n\"") && lp.GetName() != "goversion" {
					t.Errorf("%s has label %s=%q, from a client", mf.GetName(), lp.GetName(), v)
				}
				switch lp.GetName() {
				case "reason":
					reasons[v] = true
					if !slices.Contains(RefusalReasons, v) {
						t.Errorf("%s: reason %q is not one of %v", mf.GetName(), v, RefusalReasons)
					}
				case "result":
					if !slices.Contains(allResults, v) {
						t.Errorf("%s: result %q is not one of %v", mf.GetName(), v, allResults)
					}
				}
			}
		}
	}
	if len(reasons) != len(RefusalReasons) {
		t.Errorf("reasons exported %v, want every one of %v from the start", reasons, RefusalReasons)
	}
}

// TestStandardMetrics: beside the broker's own, the registry has the Go
// and process collectors and capfd_build_info (1, with version, revision
// and Go version labels).
func TestStandardMetrics(t *testing.T) {
	srv := newServer(t, Config{})
	families, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range families {
		names[mf.GetName()] = true
		if mf.GetName() != "capfd_build_info" {
			continue
		}
		m := mf.GetMetric()
		if len(m) != 1 || m[0].GetGauge().GetValue() != 1 {
			t.Fatalf("capfd_build_info %v, want one series of value 1", m)
		}
		labels := map[string]string{}
		for _, lp := range m[0].GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if labels["version"] == "" || labels["revision"] == "" || !strings.HasPrefix(labels["goversion"], "go") {
			t.Errorf("capfd_build_info labels %v, want version, revision and goversion", labels)
		}
	}
	for _, want := range []string{"capfd_build_info", "go_goroutines", "go_memstats_alloc_bytes", "process_open_fds", "process_resident_memory_bytes", "capfd_broker_clients_refused_total"} {
		if !names[want] {
			t.Errorf("no %s in the broker's registry", want)
		}
	}
	// A registry that has the standard collectors already is fine.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if _, err := New(Config{Registry: reg}); err != nil {
		t.Errorf("a registry with the Go and process collectors: %v", err)
	}
}
