package broker

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/capfd/capfd/broker/wire"
	"golang.org/x/sys/unix"
)

// Admission, in the order that keeps a slot from being held by anyone the
// broker will not serve: who the peer is (SO_PEERCRED and a pidfd) and
// which rule matches are settled first, and a client no rule matches is
// refused at once; then the client must say hello within the handshake
// timeout, holding no slot; only then does it take one of MaxClients.
// Sixteen silent connections used to take sixteen slots for the 10 s
// handshake timeout and lock everyone else out.

// serveAccepted admits and serves one connection accepted by Serve.
func (s *Server) serveAccepted(ctx context.Context, uc *net.UnixConn) {
	conn := s.conns.Add(1)
	id, err := peerIdentity(uc)
	if err != nil {
		s.refusedConn(conn, refusedNoIdentity, "err", err.Error())
		refuse(uc, &replyError{code: wire.CodeRefused, errno: unix.EACCES, msg: "the broker could not identify this client: " + err.Error()})
		return
	}
	defer id.close()
	rule, ok := s.policy.Load().Lookup(id)
	if !ok {
		s.refusedConn(conn, refusedNoRule, "client", id, "err", "no policy rule matches")
		why := "no policy rule matches this client"
		if id.pidfdErr != nil {
			why += fmt.Sprintf(" (its executable and cgroup are unknown: %v)", id.pidfdErr)
		}
		refuse(uc, &replyError{code: wire.CodeRefused, errno: unix.EACCES, msg: why})
		return
	}
	if err := s.serve(ctx, uc, conn, id, rule.Name, rule.Grants, s.takeClientSlot); err != nil {
		s.cfg.Log.Info("client connection ended", "conn", conn, "client", id, "err", err)
	}
}

// refusedConn counts and audits connection conn refused for reason (one
// of RefusalReasons), with attrs (key-value pairs) saying more. It is
// called before the refusal is sent (but for a failed handshake, which
// readHello answers itself): by the time the client knows, the audit log
// does. The record is written before the count, so whoever sees the count
// finds the record.
func (s *Server) refusedConn(conn uint64, reason string, attrs ...any) {
	s.cfg.Audit.Warn("refused", append([]any{"conn", conn, "reason", reason}, attrs...)...)
	s.m.refused.WithLabelValues(reason).Inc()
}

// takeClientSlot takes one of MaxClients, or returns the limit error.
func (s *Server) takeClientSlot() (func(), error) {
	if n := s.accepted.Add(1); n > int64(s.cfg.Limits.MaxClients) {
		s.accepted.Add(-1)
		return nil, errLimit(fmt.Sprintf("the broker serves at most %d clients", s.cfg.Limits.MaxClients))
	}
	return func() { s.accepted.Add(-1) }, nil
}

// refuseWait is how long refuse waits for the client's first request
// before it closes: closing first would make the client's hello fail
// with EPIPE, and it would never read the reason.
const refuseWait = time.Second

// refuse tells a connection the broker will not serve why, then closes
// it. The reply goes at once, with request id 0 (about the connection, not
// a request): a client reads it as the answer to its hello. Then refuse
// waits (briefly) for that hello, so that closing does not race it.
func refuse(uc *net.UnixConn, err error) {
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(refuseWait))
	c := wire.NewConn(uc)
	sendGoodbye(c, err)
	buf := make([]byte, 512)
	c.RecvRequest(buf)
}

// goodbye tells the client why its connection is about to close: an error
// reply with request id 0, the last message on the connection.
func (c *clientConn) goodbye(err error) {
	c.conn.UnixConn().SetWriteDeadline(time.Now().Add(refuseWait))
	sendGoodbye(c.conn, err)
}

func sendGoodbye(c *wire.Conn, err error) {
	if msg, err := wire.AppendError(nil, 0, wire.OpHello, 0, toWire(err)); err == nil {
		c.Send(msg, -1)
	}
}
