package broker

import (
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// servedBy maps every operation of the vfsops table to the wire op that
// serves it, so that an operation added to the table without a way to
// reach it through the broker fails this test.
var servedBy = map[vfsops.Op]wire.Op{
	vfsops.OpOpen: wire.OpOpen, vfsops.OpReopen: wire.OpReopen, vfsops.OpRead: wire.OpRead,
	vfsops.OpWrite: wire.OpWrite, vfsops.OpAppend: wire.OpWrite, vfsops.OpPread: wire.OpPread,
	vfsops.OpPwrite: wire.OpPwrite, vfsops.OpSeek: wire.OpSeek, vfsops.OpStat: wire.OpStat,
	vfsops.OpFstat: wire.OpFstat, vfsops.OpTruncate: wire.OpTruncate, vfsops.OpFtruncate: wire.OpFtruncate,
	vfsops.OpReaddir: wire.OpReaddir, vfsops.OpMkdir: wire.OpMkdir, vfsops.OpUnlink: wire.OpUnlink,
	vfsops.OpRmdir: wire.OpRmdir, vfsops.OpRename: wire.OpRename, vfsops.OpLink: wire.OpLink,
	vfsops.OpSymlink: wire.OpSymlink, vfsops.OpReadlink: wire.OpReadlink, vfsops.OpChmod: wire.OpChmod,
	vfsops.OpFchmod: wire.OpFchmod, vfsops.OpChown: wire.OpChown, vfsops.OpFchown: wire.OpFchown,
	vfsops.OpChtimes: wire.OpChtimes, vfsops.OpFutimes: wire.OpFutimes, vfsops.OpXattrGet: wire.OpXattrGet,
	vfsops.OpXattrList: wire.OpXattrList, vfsops.OpXattrSet: wire.OpXattrSet,
	vfsops.OpXattrRemove: wire.OpXattrRemove, vfsops.OpSync: wire.OpSync, vfsops.OpLock: wire.OpLock,
	vfsops.OpExec: wire.OpExec, vfsops.OpBindMount: wire.OpBindMount,
}

func TestWireCoversOpTable(t *testing.T) {
	for _, op := range vfsops.Ops() {
		w, ok := servedBy[op]
		if !ok || !w.Known() {
			t.Errorf("vfsops op %v has no wire op serving it", op)
		}
	}
}
