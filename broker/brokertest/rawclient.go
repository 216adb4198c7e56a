package brokertest

import (
	"net"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
)

// RawClient speaks the wire protocol directly. Its methods fail the test on
// transport errors; protocol-level errors come back in the reply.
type RawClient struct {
	T     testing.TB
	Conn  *wire.Conn
	Roots map[string]uint32
	Hello wire.Reply
	buf   []byte
	next  uint32
}

// NewRawClient handshakes on uc, as a client of protocol version 1: it
// reads one reply per message and so must not be sent reply batches
// (version 2).
func NewRawClient(t testing.TB, uc *net.UnixConn) *RawClient {
	t.Helper()
	rc := &RawClient{T: t, Conn: wire.NewConn(uc), buf: make([]byte, wire.MaxMessage), Roots: map[string]uint32{}}
	rep, fd := rc.Call(&wire.Request{Op: wire.OpHello, VersionMin: wire.MinVersion, VersionMax: 1, Requested: rights.All})
	if fd >= 0 || rep.Err != nil {
		t.Fatalf("handshake: %+v", rep.Err)
	}
	rc.Hello = rep
	for _, r := range rep.Roots {
		rc.Roots[r.Name] = r.Handle
	}
	return rc
}

// Send sends req with a fresh id and returns the id.
func (rc *RawClient) Send(req *wire.Request) uint32 {
	rc.T.Helper()
	rc.next++
	req.ID = rc.next
	msg, err := wire.AppendRequest(nil, req)
	if err != nil {
		rc.T.Fatalf("encode %v: %v", req.Op, err)
	}
	if err := rc.Conn.Send(msg, -1); err != nil {
		rc.T.Fatalf("send %v: %v", req.Op, err)
	}
	return req.ID
}

// Recv reads one reply; its byte fields are copied out of the buffer. The
// descriptor, if any, is the caller's.
func (rc *RawClient) Recv() (wire.Reply, int) {
	rc.T.Helper()
	rep, fd, err := rc.Conn.RecvReply(rc.buf)
	if err != nil {
		rc.T.Fatalf("receive: %v", err)
	}
	rep.Data = append([]byte(nil), rep.Data...)
	return rep, fd
}

// Call sends req and returns its reply, which must be the next message.
func (rc *RawClient) Call(req *wire.Request) (wire.Reply, int) {
	rc.T.Helper()
	id := rc.Send(req)
	rep, fd := rc.Recv()
	if rep.ID != id {
		rc.T.Fatalf("%v: reply to %d, want %d", req.Op, rep.ID, id)
	}
	return rep, fd
}
