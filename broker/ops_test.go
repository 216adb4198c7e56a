package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// TestEveryOpAllowedAndDenied serves every operation twice through a raw
// client that skips capfd's client-side checks: once on a handle holding
// what the op needs (it succeeds), once on a handle holding everything but
// that (the broker refuses it with not-capable, names the missing rights,
// counts the denial, and leaves the file system untouched). tests/broker
// runs the same cases against the broker process.
func TestEveryOpAllowedAndDenied(t *testing.T) {
	covered := map[wire.Op]bool{}
	for op := range brokertest.Uncovered {
		covered[op] = true
	}
	// A bind mount would land in this process's mount namespace:
	// TestBindMountServed runs its cases in a child with a namespace of
	// its own.
	covered[wire.OpBindMount] = true
	for _, tc := range brokertest.OpCases() {
		covered[tc.Op] = true
		t.Run(tc.Op.String(), func(t *testing.T) {
			for _, allowed := range []bool{true, false} {
				dir := t.TempDir()
				xattrs := brokertest.MakeOpTree(t, dir)
				srv := newServer(t, Config{})
				rc := rawServed(t, srv, []Grant{{Name: "root", Path: dir, Rights: rights.Uniform(rights.All)}})
				brokertest.RunOpCase(t, rc, rc.roots["root"], ".", dir, xattrs, tc, allowed)
				if !allowed {
					if got := testutil.ToFloat64(srv.m.ops.WithLabelValues(tc.Op.String(), resultDenied)); got != 1 {
						t.Errorf("denied counter for %v = %v, want 1", tc.Op, got)
					}
				}
			}
		})
	}
	for _, op := range wire.Ops() {
		if !covered[op] {
			t.Errorf("op %v has no case", op)
		}
	}
}

// TestHandlersMatchOpTable checks the handler table against the
// protocol's op table, which TestOpTableMirrorsVFS (broker/wire) checks
// against the vfsops table: every op of the protocol has a handler, or
// says where it is served instead; no handler sits on an op the protocol
// does not define; every vfsops operation reaches a handler.
func TestHandlersMatchOpTable(t *testing.T) {
	for op := range wire.OpEnd {
		h := handlers[op]
		switch {
		case !op.Known() && (h.serve != nil || h.why != "" || h.mayBlock != nil || h.privilege != nil):
			t.Errorf("op %d is not in the protocol but has a handler entry", uint16(op))
		case op.Known() && h.serve == nil && h.why == "":
			t.Errorf("op %v has no handler and says not why", op)
		case h.serve != nil && h.why != "":
			t.Errorf("op %v has a handler yet says why it has none", op)
		}
		if v, why := op.VFSOp(); op.Known() && v == vfsops.OpInvalid && why == "" {
			t.Errorf("op %v performs no vfsops op and says not why", op)
		}
	}
	for _, v := range vfsops.Ops() {
		op, ok := wire.ServedBy(v)
		if !ok || handlerFor(op).serve == nil {
			t.Errorf("vfsops op %v has no wire op served by a handler", v)
		}
	}
	for _, op := range []wire.Op{0, 4, wire.OpEnd, 0xffff} {
		if h := handlerFor(op); h.serve != nil || h.mayBlock != nil || h.privilege != nil {
			t.Errorf("op %d out of the protocol has a handler", uint16(op))
		}
	}
}

// TestUnservedOpFailsClosed sends dispatch ops it has no handler for: each
// is refused as unsupported, as the switch's default case did.
func TestUnservedOpFailsClosed(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, Config{})
	c := &clientConn{srv: srv}
	d, err := capfd.OpenDir(dir, rights.Uniform(rights.All))
	if err != nil {
		t.Fatal(err)
	}
	s := serveDir(d, "root")
	defer s.Close()
	for _, op := range []wire.Op{wire.OpHello, 0, 4, wire.OpEnd, 0xffff} {
		out := c.dispatchTo(s, &wire.Request{Op: op})
		var re *replyError
		if !errors.As(out.err, &re) || re.code != wire.CodeUnsupported || re.errno != unix.EOPNOTSUPP {
			t.Errorf("op %d: got %v, want unsupported", uint16(op), out.err)
		}
		if want := fmt.Sprintf("op %v is not served", op); re != nil && re.msg != want {
			t.Errorf("op %d: message %q, want %q", uint16(op), re.msg, want)
		}
	}
}
