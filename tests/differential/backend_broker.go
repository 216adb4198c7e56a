package differential

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// brokerBackend is the broker's served handles (capfd Served and
// broker/dispatch): an in-process broker.Server on a socketpair, with a
// grant per case (and one on n/ for the nested shape), driven by raw wire
// requests, so no client-side check runs first and every answer is the
// broker's own.
type brokerBackend struct{}

func (brokerBackend) Name() string     { return "broker" }
func (brokerBackend) Available() error { return nil }

func (brokerBackend) Inexpressible(c *Case) string {
	if c.Action.RenameFlags == "exchange" {
		return "the protocol's rename takes RENAME_NOREPLACE only"
	}
	return ""
}

// brokerBatch bounds the grants of one connection, well under the
// broker's handle limit (every root is a handle).
const brokerBatch = 200

func (brokerBackend) Run(t *testing.T, cases []*Case, roots []string) []string {
	srv, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(cases))
	for start := 0; start < len(cases); start += brokerBatch {
		end := min(start+brokerBatch, len(cases))
		out = append(out, runBrokerBatch(t, srv, cases[start:end], roots[start:end])...)
	}
	return out
}

func runBrokerBatch(t *testing.T, srv *broker.Server, cases []*Case, roots []string) []string {
	var grants []broker.Grant
	for i, c := range cases {
		grants = append(grants, broker.Grant{Name: fmt.Sprintf("c%d", i), Path: roots[i], Rights: c.Outer})
		if c.Nested {
			grants = append(grants, broker.Grant{Name: fmt.Sprintf("c%dn", i), Path: filepath.Join(roots[i], "n"), Rights: c.Inner})
		}
	}
	conn, stop := brokertest.Pair(t, func(ctx context.Context, c *net.UnixConn) error { return srv.ServeConn(ctx, c, grants) })
	defer stop() // each batch's connection ends with the batch
	rc := brokertest.NewRawClient(t, conn)
	out := make([]string, len(cases))
	for i, c := range cases {
		name := fmt.Sprintf("c%d", i)
		if c.Nested {
			name += "n"
		}
		h, ok := rc.Roots[name]
		if !ok {
			out[i] = "setup: no root " + name
			continue
		}
		out[i] = brokerAction(rc, h, c)
	}
	return out
}

// call makes one request and names its outcome; a descriptor that comes
// with a reply is closed, a new handle returned.
func call(rc *brokertest.RawClient, req *wire.Request) (string, uint32) {
	rep, fd := rc.Call(req)
	if fd >= 0 {
		unix.Close(fd)
	}
	if rep.Err != nil {
		switch rep.Err.Code {
		case wire.CodeNotCapable:
			return "ENOTCAPABLE", 0
		case wire.CodeErrno:
			if name := unix.ErrnoName(unix.Errno(rep.Err.Errno)); name != "" {
				return name, 0
			}
		}
		return fmt.Sprintf("%v: %s", rep.Err.Code, rep.Err.Message), 0
	}
	return "OK", rep.NewHandle
}

func brokerAction(rc *brokertest.RawClient, h uint32, c *Case) string {
	a := c.Action
	fixed := wire.Timespec{Sec: fixedTime}
	req := &wire.Request{Handle: h, Path: a.Path}
	switch a.Kind {
	case "open", "fd":
		// Ask for what the case uses on the new handle, no more: a
		// request beyond the grant is refused, not cut down, and that
		// refusal must be the one the case is about.
		var want rights.Rights
		for _, r := range c.Requests {
			if r.Op == vfsops.OpOpen {
				file, _ := vfsops.OpenRightsOn(r.Flags, r.IsDir)
				want |= file
			} else {
				want |= r.Op.Needs(vfsops.OnHandle)
			}
		}
		req.Op, req.SysFlags, req.Mode, req.Pair = wire.OpOpen, uint32(a.OpenFlags()), 0o644, rights.Pair{Base: want}
		outcome, fh := call(rc, req)
		if outcome != "OK" || a.Kind == "open" {
			if outcome == "OK" {
				call(rc, &wire.Request{Op: wire.OpClose, Handle: fh})
			}
			return outcome
		}
		outcome, _ = call(rc, fdRequest(fh, a.FdOp))
		call(rc, &wire.Request{Op: wire.OpClose, Handle: fh})
		return outcome
	case "stat", "lstat":
		req.Op, req.Follow = wire.OpStat, a.Kind == "stat"
	case "chmod":
		req.Op, req.Mode = wire.OpChmod, a.Mode
	case "chown":
		req.Op, req.UID, req.GID, req.Follow = wire.OpChown, int32(chownUID), int32(chownGID), true
	case "utimens":
		req.Op, req.Atime, req.Mtime, req.Follow = wire.OpChtimes, fixed, fixed, true
	case "truncate":
		req.Op = wire.OpTruncate
	case "readlink":
		req.Op = wire.OpReadlink
	case "mkdir":
		req.Op, req.Mode = wire.OpMkdir, 0o755
	case "unlink":
		req.Op = wire.OpUnlink
	case "rmdir":
		req.Op = wire.OpRmdir
	case "symlink":
		req.Op, req.Path, req.Path2 = wire.OpSymlink, a.Path2, a.Target
	case "rename":
		req.Op, req.Handle2, req.Path2, req.SysFlags = wire.OpRename, h, a.Path2, uint32(a.RenameFlag())
	case "link":
		req.Op, req.Handle2, req.Path2 = wire.OpLink, h, a.Path2
	default:
		panic("differential: no wire spelling of " + a.Kind)
	}
	outcome, _ := call(rc, req)
	return outcome
}

// fdRequest is the wire request for an fd operation on handle h.
func fdRequest(h uint32, op string) *wire.Request {
	fixed := wire.Timespec{Sec: fixedTime}
	r := &wire.Request{Handle: h}
	switch op {
	case "read":
		r.Op, r.Count = wire.OpRead, 1
	case "write", "append":
		r.Op, r.Data = wire.OpWrite, []byte("new\n")
	case "pread":
		r.Op, r.Offset, r.Count = wire.OpPread, 1, 1
	case "pwrite":
		r.Op, r.Offset, r.Data = wire.OpPwrite, 1, []byte("X")
	case "seek":
		r.Op, r.Offset, r.SysFlags = wire.OpSeek, 1, 0
	case "fstat":
		r.Op = wire.OpFstat
	case "ftruncate":
		r.Op = wire.OpFtruncate
	case "readdir":
		r.Op, r.Count = wire.OpReaddir, 4096
	case "fchmod":
		r.Op, r.Mode = wire.OpFchmod, 0o600
	case "fchown":
		r.Op, r.UID, r.GID = wire.OpFchown, int32(chownUID), int32(chownGID)
	case "futimes":
		r.Op, r.Atime, r.Mtime = wire.OpFutimes, fixed, fixed
	case "sync":
		r.Op = wire.OpSync
	case "lock":
		r.Op, r.SysFlags = wire.OpLock, unix.LOCK_EX
	case "xattr-get":
		r.Op, r.Name = wire.OpXattrGet, fixtureXattr
	case "xattr-list":
		r.Op = wire.OpXattrList
	case "xattr-set":
		r.Op, r.Name, r.Data = wire.OpXattrSet, "user.new", []byte("1")
	case "xattr-remove":
		r.Op, r.Name = wire.OpXattrRemove, fixtureXattr
	default:
		panic("differential: no wire spelling of fd op " + op)
	}
	return r
}
