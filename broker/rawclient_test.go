package broker

import (
	"context"
	"net"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
)

// rawClient speaks the wire protocol directly, without capfd's client-side
// checks, the way a compromised client would: it is how tests show the
// broker's own checks hold.
type rawClient struct {
	t     testing.TB
	conn  *wire.Conn
	buf   []byte
	next  uint32
	roots map[string]uint32
	hello wire.Reply
}

// rawServed starts srv on a socketpair with grants and handshakes. What
// ServeConn returns is not checked: a raw client may end the connection
// on purpose (malformed messages, a broken handshake).
func rawServed(t testing.TB, srv *Server, grants []Grant) *rawClient {
	t.Helper()
	conn, _ := brokertest.Pair(t, func(ctx context.Context, c *net.UnixConn) error {
		srv.ServeConn(ctx, c, grants)
		return nil
	})
	return newRawClient(t, conn)
}

func newRawClient(t testing.TB, uc *net.UnixConn) *rawClient {
	rc := &rawClient{t: t, conn: wire.NewConn(uc), buf: make([]byte, wire.MaxMessage), roots: map[string]uint32{}}
	rep, fd := rc.call(&wire.Request{Op: wire.OpHello, VersionMin: 1, VersionMax: 1, Requested: rights.All})
	if fd >= 0 || rep.Err != nil {
		t.Fatalf("handshake: %+v", rep.Err)
	}
	rc.hello = rep
	for _, r := range rep.Roots {
		rc.roots[r.Name] = r.Handle
	}
	return rc
}

// send sends req with a fresh id and returns the id.
func (rc *rawClient) send(req *wire.Request) uint32 {
	rc.t.Helper()
	rc.next++
	req.ID = rc.next
	msg, err := wire.AppendRequest(nil, req)
	if err != nil {
		rc.t.Fatalf("encode %v: %v", req.Op, err)
	}
	if err := rc.conn.Send(msg, -1); err != nil {
		rc.t.Fatalf("send %v: %v", req.Op, err)
	}
	return req.ID
}

// recv reads one reply; its byte fields are copied out of the buffer.
func (rc *rawClient) recv() (wire.Reply, int) {
	rc.t.Helper()
	rep, fd, err := rc.conn.RecvReply(rc.buf)
	if err != nil {
		rc.t.Fatalf("receive: %v", err)
	}
	rep.Data = append([]byte(nil), rep.Data...)
	return rep, fd
}

// call sends req and returns its reply, which must be the next message.
func (rc *rawClient) call(req *wire.Request) (wire.Reply, int) {
	rc.t.Helper()
	id := rc.send(req)
	rep, fd := rc.recv()
	if rep.ID != id {
		rc.t.Fatalf("%v: reply to %d, want %d", req.Op, rep.ID, id)
	}
	return rep, fd
}

// open opens path beneath dir as a file handle with flags and rights r.
func (rc *rawClient) open(dir uint32, path string, flags int, r rights.Rights) uint32 {
	rc.t.Helper()
	rep, _ := rc.call(&wire.Request{Op: wire.OpOpen, Handle: dir, Path: path, SysFlags: uint32(flags), Mode: 0o644, Pair: rights.Pair{Base: r}})
	if rep.Err != nil {
		rc.t.Fatalf("open %s: %+v", path, *rep.Err)
	}
	return rep.NewHandle
}

// Call lets brokertest drive a rawClient.
func (rc *rawClient) Call(req *wire.Request) (wire.Reply, int) { return rc.call(req) }
