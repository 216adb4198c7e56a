package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// maxProtocolErrors is how many malformed messages a client may send
// before the broker hangs up: each gets an error reply, but a client that
// keeps sending garbage is broken or hostile, and answering it forever
// only costs the broker.
const maxProtocolErrors = 64

var errTooManyMalformed = errors.New("broker: too many malformed messages")

// clientConn is one client's connection and everything it holds.
type clientConn struct {
	srv    *Server
	conn   *wire.Conn
	connID uint64       // Server.conns
	alog   *slog.Logger // the audit log, with this connection's "conn"
	id     Identity
	rule   string // the policy rule that matched, "" over ServeConn
	table  *handleTable
	roots  []wire.Root

	inflight chan struct{} // one slot per request being served
	blocking gate          // one slot per blocked request (blocking.go)
	overflow atomic.Bool   // a request is blocked without a server slot

	idleExpired atomic.Bool // the idle timeout ended the connection (idle.go)
	lastActive  atomic.Int64
	workers     sync.WaitGroup

	// The reader's state, handed from reader to reader (see read).
	readerDone     chan error
	protocolErrors int

	version uint8 // the protocol version the handshake chose
}

// serve runs the connection: handshake, then requests until the client
// goes away or ctx is cancelled; then it drains the requests in flight and
// releases every handle the client held. slot, if not nil, is taken once
// the client has said hello (Serve's client limit: a client that connects
// and says nothing holds no slot) and returns its release. Whatever ends
// the connection, the client is told why in an error reply first, except
// when it left by itself.
func (s *Server) serve(ctx context.Context, uc *net.UnixConn, connID uint64, id Identity, rule string, grants []Grant, slot func() (func(), error)) error {
	defer uc.Close()
	c := &clientConn{
		srv:        s,
		conn:       wire.NewConn(uc),
		connID:     connID,
		alog:       s.cfg.Audit.With("conn", connID),
		id:         id,
		rule:       rule,
		table:      newHandleTable(s.cfg.Limits.MaxHandles, func(d int) { s.m.handles.Add(float64(d)) }),
		inflight:   make(chan struct{}, s.cfg.Limits.MaxInflight),
		blocking:   newGate(s.cfg.Limits.MaxBlocking),
		readerDone: make(chan error, 1),
	}
	defer c.table.closeAll()
	hello, err := c.readHello()
	if err != nil {
		c.refused(refusedHandshake, err)
		return err
	}
	if slot != nil {
		release, err := slot()
		if err != nil {
			c.refused(refusedClientLimit, err)
			c.refuseHello(&hello, err)
			return err
		}
		// Deferred after uc.Close, so it runs before it: a client that
		// sees its connection end finds the slot free again.
		defer release()
	}
	dirs, err := c.openRoots(grants)
	if err != nil {
		c.refused(refusedGrant, err)
		var ge *GrantError
		if errors.As(err, &ge) {
			c.refuseHello(&hello, ge.refusal())
		} else {
			c.refuseHello(&hello, &replyError{code: wire.CodeLimit, errno: unix.EMFILE, msg: err.Error()})
		}
		return err
	}
	if s.cfg.OnConnect != nil {
		objects, err := grantedObjects(grants, dirs)
		if err == nil {
			var release func()
			release, err = s.cfg.OnConnect(id, objects)
			if release != nil {
				// Runs when serve returns, after the drain: whatever
				// the hook set up for this client lives as long as
				// the connection.
				defer release()
			}
		}
		if err != nil {
			closeDirs(dirs)
			err = fmt.Errorf("broker: kernel layer refused this client: %w", err)
			c.refused(refusedKernel, err)
			c.refuseHello(&hello, &replyError{code: wire.CodeRefused, errno: unix.EACCES, msg: err.Error()})
			return err
		}
	}
	if err := c.serveRoots(grants, dirs); err != nil {
		c.refused(refusedHandles, err)
		c.refuseHello(&hello, &replyError{code: wire.CodeLimit, errno: unix.EMFILE, msg: err.Error()})
		return err
	}
	if err := c.hello(&hello); err != nil {
		c.refused(refusedHandshake, err)
		return err
	}
	s.m.clients.Inc()
	defer s.m.clients.Dec()
	c.alog.Info("connect", "client", id, "rule", rule, "roots", len(c.roots))

	// Cancellation interrupts the blocking read; requests already read
	// are still answered (drain) before the connection closes, within the
	// drain timeout (the write deadline keeps a client that reads nothing
	// from holding shutdown up).
	stop := context.AfterFunc(ctx, func() {
		uc.SetReadDeadline(time.Unix(1, 0))
		uc.SetWriteDeadline(time.Now().Add(s.cfg.DrainTimeout))
	})
	defer stop()
	if slot != nil {
		defer c.watchIdle(s.cfg.IdleTimeout)()
	}

	go c.read(ctx, nil)
	err = <-c.readerDone
	if ctx.Err() == nil {
		// The client is gone, or is being sent away: its handles go now,
		// even while a request of its is still blocked in a system call
		// (that call keeps its descriptor alive until it returns).
		released := c.table.len()
		c.table.closeAll()
		reason := "client left"
		switch {
		case c.idleExpired.Load():
			reason = "idle"
			err = fmt.Errorf("broker: idle for %v", s.cfg.IdleTimeout)
			c.goodbye(&replyError{code: wire.CodeLimit, errno: unix.ETIMEDOUT, msg: fmt.Sprintf("no request for %v (the idle timeout): closing the connection", s.cfg.IdleTimeout)})
		case errors.Is(err, errTooManyMalformed):
			reason = "malformed messages"
			c.goodbye(errBadRequest(err.Error() + ": closing the connection"))
		}
		c.alog.Info("disconnect", "client", id, "handles_released", released, "reason", reason)
		// Nobody is left to answer; a request stuck in a system call
		// must not keep ServeConn (and a launcher waiting on it) forever.
		waitTimeout(&c.workers, s.cfg.DrainTimeout)
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	drained := waitTimeout(&c.workers, s.cfg.DrainTimeout)
	c.goodbye(&replyError{code: wire.CodeShutdown, errno: unix.ESHUTDOWN, msg: "broker shutting down: closing the connection"})
	c.alog.Info("disconnect", "client", id, "handles_released", c.table.len(), "reason", "shutdown", "drained", drained)
	return nil
}

// refused audits and counts a client turned away before it was served,
// for reason (one of RefusalReasons); see Server.refusedConn.
func (c *clientConn) refused(reason string, err error) {
	c.srv.refusedConn(c.connID, reason, "client", c.id, "rule", c.rule, "err", err.Error())
}

// waitTimeout waits for wg for at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// openRoots opens every granted directory as a handle of this client.
// The grants' roots are indexed by identity (capfd.NewPlaces) so that,
// where grants nest or a grant's base and inherit rights differ, every
// operation gets the rights of the object it reaches (docs/broker.md,
// "Rights follow the object").
// openRoots opens the client's grants, in order; on error none stays
// open.
func (c *clientConn) openRoots(grants []Grant) ([]*capfd.Dir, error) {
	dirs := make([]*capfd.Dir, 0, len(grants))
	for _, g := range grants {
		d, err := capfd.OpenDir(g.Path, g.Rights)
		if err != nil {
			closeDirs(dirs)
			return nil, grantError(c.rule, g, err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// grantedObjects pairs each grant with the identity of the directory
// opened for it.
func grantedObjects(grants []Grant, dirs []*capfd.Dir) ([]GrantedObject, error) {
	out := make([]GrantedObject, len(grants))
	for i, g := range grants {
		id, err := dirs[i].Identity()
		if err != nil {
			return nil, fmt.Errorf("broker: grant %q: %w", g.Name, err)
		}
		out[i] = GrantedObject{Grant: g, ID: id}
	}
	return out, nil
}

// serveRoots makes the opened grants the client's root handles; on error
// the ones not yet in the handle table are closed (the table closes the
// rest with the connection).
func (c *clientConn) serveRoots(grants []Grant, dirs []*capfd.Dir) error {
	places, err := capfd.NewPlaces(dirs)
	if err != nil {
		closeDirs(dirs)
		return err
	}
	for i, g := range grants {
		h, ok := c.table.add(serveGrant(dirs[i], g.Name, places))
		if !ok {
			closeDirs(dirs[i:])
			return fmt.Errorf("broker: %d grants exceed the handle limit %d", len(grants), c.srv.cfg.Limits.MaxHandles)
		}
		c.roots = append(c.roots, wire.Root{Name: g.Name, Handle: h, Rights: g.Rights})
	}
	return nil
}

func closeDirs(dirs []*capfd.Dir) {
	for _, d := range dirs {
		d.Close()
	}
}

// mayBlock reports whether req can wait on something outside the broker
// for an unbounded time, possibly on another request of the same client;
// each op's entry in the handler table says (opHandler.mayBlock).
func (c *clientConn) mayBlock(req *wire.Request) bool {
	h := handlerFor(req.Op)
	return h.mayBlock != nil && h.mayBlock(c, req)
}

// read is the connection's reader. Exactly one goroutine reads at a time;
// see handoffAfter for how it serves requests and passes the reading on.
// The handoff starts the next reader from the watchdog while this one is
// still serving: a new reader only ever starts when the old one stops
// reading, so there is never more than one. backlog is what the previous
// reader left of a batch (the requests after the one it was handed off
// in, copied): served first, in order, as if just read.
// The reader that meets the end of the connection reports it on
// c.readerDone.
func (c *clientConn) read(ctx context.Context, backlog [][]byte) {
	bufp := c.srv.readBufs.Get().(*[]byte)
	defer c.srv.readBufs.Put(bufp)
	slot := &readerSlot{stalled: c.stalled, unstalled: c.unstalled}
	slot.handoff = func() { c.read(ctx, slot.rest) }
	defer slot.register()()
	rb := &replyBatch{c: c}
	req := new(wire.Request) // this reader's, reused for every request it serves
	stop := func(err error) bool {
		if err != nil {
			c.readerDone <- err
			return true
		}
		return false
	}
	if len(backlog) > 0 {
		handed, err := c.serveBatch(ctx, slot, rb, backlog, req)
		rb.flush()
		if handed {
			runtime.LockOSThread() // see below
			return
		}
		if stop(err) {
			return
		}
	}
	// With a client that speaks batches, replies wait in rb while
	// requests keep coming (a train: the last read found its message
	// already queued), and go together once the socket is empty; a
	// client that waits for each reply gets it at once, since then every
	// read waits.
	if c.version < wire.BatchVersion {
		rb = nil
	}
	var subs [][]byte
	train := false
	for {
		var m wire.Message
		var err error
		switch {
		case rb == nil:
			m, err = c.conn.Recv(*bufp)
		case train && rb.n > 0:
			if m, err = c.conn.TryRecv(*bufp); err == wire.ErrWouldBlock {
				rb.flush()
				m, train, err = c.conn.RecvWaited(*bufp)
				train = !train
			}
		default:
			rb.flush()
			m, train, err = c.conn.RecvWaited(*bufp)
			train = !train
		}
		c.touch(time.Now())
		if err != nil {
			rb.flush()
			if stop(c.rejected(nil, err)) {
				return
			}
			continue
		}
		closeFD(m.FD) // requests carry none; the decoder refuses one that claims any
		handed := false
		if wire.IsBatch(m.Bytes) {
			if c.version < wire.BatchVersion {
				err = c.rejected(nil, &wire.RecvError{Header: m.Header, HeaderOK: true,
					Err: fmt.Errorf("%w: a batch on a connection of protocol version %d (batches need %d)", wire.ErrProtocol, c.version, wire.BatchVersion)})
			} else if subs, err = wire.SplitBatch(m.Bytes, subs[:0]); err != nil {
				err = c.rejected(nil, &wire.RecvError{Header: m.Header, HeaderOK: true, Err: err})
			} else {
				handed, err = c.serveBatch(ctx, slot, rb, subs, req)
			}
		} else if *req, err = wire.ParseRequest(m.Bytes); err != nil {
			err = c.rejected(nil, &wire.RecvError{Header: m.Header, HeaderOK: true, Err: err})
		} else {
			handed = c.handle(ctx, slot, rb, req, nil)
		}
		if handed {
			// Handed off: another goroutine reads now, and this one
			// ends. It ends locked to its thread so that the thread
			// ends with it: the runtime keeps idle threads for good,
			// and a burst of blocked requests would otherwise leave
			// the broker holding one thread per request it waited on.
			runtime.LockOSThread()
			return
		}
		if err != nil {
			rb.flush() // before the goodbye
			stop(err)
			return
		}
	}
}

// serveBatch serves the requests of a batch in order, each as if it had
// come alone (parsed with the same checks, counted, answered), their
// replies gathered into reply batches (rb). handed reports that the
// reading was handed off while a request blocked: the requests after it
// went to the new reader. A non-nil error ends the connection.
func (c *clientConn) serveBatch(ctx context.Context, slot *readerSlot, rb *replyBatch, subs [][]byte, req *wire.Request) (handed bool, err error) {
	for i, sub := range subs {
		var perr error
		if *req, perr = wire.ParseRequest(sub); perr != nil {
			h, _ := wire.ParseHeader(sub) // SplitBatch checked it
			if err := c.rejected(rb, &wire.RecvError{Header: h, HeaderOK: true, Err: perr}); err != nil {
				return false, err
			}
			continue
		}
		if c.handle(ctx, slot, rb, req, subs[i+1:]) {
			return true, nil
		}
	}
	return false, nil
}

// handle serves one request the reader read (alone, or in a batch with
// rest after it) and reports whether the reading was handed off meanwhile.
// Replies go into rb (nil: sent at once).
func (c *clientConn) handle(ctx context.Context, slot *readerSlot, rb *replyBatch, req *wire.Request, rest [][]byte) (handed bool) {
	if req.Op == wire.OpHello {
		c.sendError(rb, req.ID, req.Op, req.Handle, errBadRequest("hello again after the handshake"))
		return false
	}
	if ctx.Err() != nil {
		// A posted request (no-reply, request id 0) gets no answer
		// here either: an error with id 0 would read as the
		// connection's goodbye, which comes after the drain.
		if req.Flags&wire.FlagNoReply == 0 {
			c.sendError(rb, req.ID, req.Op, req.Handle, &replyError{code: wire.CodeShutdown, errno: unix.ESHUTDOWN, msg: "broker shutting down"})
		}
		c.srv.m.ops.WithLabelValues(req.Op.String(), resultShutdown).Inc()
		return false
	}
	if req.Op == wire.OpClose {
		// Closes are cheap and must never be refused for want of an
		// in-flight slot, or a client could not free handles when it
		// most needs to: served right here.
		c.serveRequest(req, time.Now(), nil, rb)
		return false
	}
	select {
	case c.inflight <- struct{}{}:
	default:
		c.srv.m.ops.WithLabelValues(req.Op.String(), resultLimit).Inc()
		c.sendError(rb, req.ID, req.Op, req.Handle, errLimit(fmt.Sprintf("%d requests already in flight (limit %d)", len(c.inflight), cap(c.inflight))))
		return false
	}
	armed := c.mayBlock(req)
	if armed {
		if err := c.admitBlocking(); err != nil {
			<-c.inflight
			c.srv.m.ops.WithLabelValues(req.Op.String(), resultLimit).Inc()
			c.sendError(rb, req.ID, req.Op, req.Handle, err)
			return false
		}
	}
	arrived := time.Now()
	c.workers.Add(1)
	c.srv.m.inflight.Inc()
	watched := (*readerSlot)(nil)
	if armed {
		// What this request may wait on must not hold up the replies
		// already gathered, nor the requests after it in its batch: those
		// go, copied, to the reader the watchdog may start. Its own reply
		// is sent alone.
		rb.flush()
		rb = nil
		slot.rest = nil
		for _, sub := range rest {
			slot.rest = append(slot.rest, bytes.Clone(sub))
		}
		slot.arm()
		watched = slot
	}
	handed = c.serveRequest(req, arrived, watched, rb)
	if watched != nil {
		c.touch(time.Now()) // the end of a long wait restarts the idle period
		if !handed {
			slot.rest = nil
		}
	}
	c.srv.m.inflight.Dec()
	<-c.inflight
	c.workers.Done()
	return handed
}

// rejected answers a message the decoder refused and returns nil to keep
// reading, or the error that ends the connection.
func (c *clientConn) rejected(rb *replyBatch, err error) error {
	var re *wire.RecvError
	if !errors.As(err, &re) {
		if errors.Is(err, unix.ECONNRESET) {
			// The client exited without an orderly close: a disconnect
			// like any other.
			return io.EOF
		}
		return err // EOF, shutdown deadline, broken socket
	}
	c.srv.m.malformed.Inc()
	c.protocolErrors++
	h := re.Header
	if !re.HeaderOK {
		h = wire.Header{}
	}
	c.srv.m.ops.WithLabelValues(opLabel(h.Op), resultBad).Inc()
	c.sendError(rb, h.ID, h.Op, h.Handle, errBadRequest(err.Error()))
	if c.protocolErrors >= maxProtocolErrors {
		return fmt.Errorf("%w (%d)", errTooManyMalformed, c.protocolErrors)
	}
	return nil
}

// readHello reads the first request, which must be hello, within
// Config.HandshakeTimeout: a client that connects and says nothing must
// not hold a goroutine and descriptors forever (it holds no client slot
// meanwhile, see serve). Whatever is wrong is answered before the error
// is returned.
func (c *clientConn) readHello() (wire.Request, error) {
	uc := c.conn.UnixConn()
	uc.SetReadDeadline(time.Now().Add(c.srv.cfg.HandshakeTimeout))
	defer uc.SetReadDeadline(time.Time{})
	bufp := c.srv.readBufs.Get().(*[]byte)
	defer c.srv.readBufs.Put(bufp)
	req, err := c.conn.RecvRequest(*bufp)
	if err != nil {
		var re *wire.RecvError
		switch {
		case errors.As(err, &re) && re.HeaderOK:
			c.sendError(nil, re.Header.ID, re.Header.Op, re.Header.Handle, errBadRequest(err.Error()))
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.goodbye(errBadRequest(fmt.Sprintf("no hello within %v (the handshake timeout): closing the connection", c.srv.cfg.HandshakeTimeout)))
		default:
			c.goodbye(errBadRequest(err.Error()))
		}
		return req, fmt.Errorf("broker: handshake: %w", err)
	}
	if req.Op != wire.OpHello {
		c.sendError(nil, req.ID, req.Op, req.Handle, errBadRequest("the first request must be hello"))
		return req, fmt.Errorf("broker: client skipped the handshake")
	}
	req.Path, req.Path2, req.Name, req.Data = "", "", "", nil // alias the buffer; hello has none
	return req, nil
}

// refuseHello answers the client's hello with err instead of the roots.
func (c *clientConn) refuseHello(hello *wire.Request, err error) {
	c.sendError(nil, hello.ID, wire.OpHello, 0, err)
}

// hello answers the handshake: the version both sides speak, the rights
// this build supports out of those the client asked about (statx-style),
// the limits, and the roots.
func (c *clientConn) hello(req *wire.Request) error {
	v, ok := wire.Negotiate(req.VersionMin, req.VersionMax)
	if !ok {
		c.sendError(nil, req.ID, req.Op, 0, errBadRequest(fmt.Sprintf("no common protocol version: client %d..%d, broker %d..%d",
			req.VersionMin, req.VersionMax, wire.MinVersion, wire.MaxVersion)))
		return fmt.Errorf("broker: no common protocol version")
	}
	c.version = v
	lim := c.srv.cfg.Limits
	rep := wire.Reply{
		ID: req.ID, Op: wire.OpHello, Version: v,
		Answer: rights.Query(req.Requested),
		Limits: wire.Limits{MaxMessage: uint32(lim.MaxMessage), MaxHandles: uint32(lim.MaxHandles), MaxInflight: uint32(lim.MaxInflight)},
		Roots:  c.roots,
	}
	c.sendReply(nil, &rep, -1)
	c.srv.m.ops.WithLabelValues(wire.OpHello.String(), resultOK).Inc()
	return nil
}

// serveRequest dispatches req, accounts for it, and sends the reply. The
// accounting comes first so that whoever sees the reply also sees it in
// the metrics and the audit log. A watched request (one that may block)
// is disarmed before the reply goes, so that a client told its blocked
// request returned finds the blocking slot free again; handed reports
// that the watchdog handed the reading on meanwhile.
func (c *clientConn) serveRequest(req *wire.Request, arrived time.Time, watched *readerSlot, rb *replyBatch) (handed bool) {
	res := c.dispatch(req)
	handed = watched != nil && !watched.disarm()
	if res.release != nil {
		defer res.release()
	}
	result := resultOK
	var er *wire.ErrorReply
	if res.err != nil {
		e := toWire(res.err)
		er = &e
		result = resultFor(e.Code)
	}
	elapsed := time.Since(arrived)
	c.srv.m.served(req.Op, result, elapsed.Seconds())
	if result == resultDenied {
		c.srv.m.denied(er.Held.Missing(er.Needed))
	}
	c.audit(auditRecord{op: req.Op, handle: req.Handle, name: res.name, path: req.Path, path2: req.Path2, result: result, er: er, duration: elapsed})
	switch {
	case req.Flags&wire.FlagNoReply != 0:
	case er != nil:
		c.sendErrorReply(rb, req.ID, req.Op, req.Handle, *er)
	case !res.sent:
		res.rep.ID, res.rep.Op, res.rep.Handle = req.ID, req.Op, req.Handle
		c.sendReply(rb, &res.rep, -1)
	}
	return handed
}

func resultFor(code wire.Code) string {
	switch code {
	case wire.CodeNotCapable:
		return resultDenied
	case wire.CodeLimit:
		return resultLimit
	case wire.CodeProtocol, wire.CodeBadHandle:
		return resultBad
	case wire.CodeShutdown:
		return resultShutdown
	case wire.CodeEscape:
		return resultEscape
	}
	return resultError
}

func opLabel(op wire.Op) string {
	if op.Known() {
		return op.String()
	}
	return "unknown"
}

var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sendReply encodes and sends rep with fd (or -1), or adds it to rb (if
// not nil; only a reply without a descriptor). A send that fails means
// the client is gone; the read loop finds out and cleans up.
func (c *clientConn) sendReply(rb *replyBatch, rep *wire.Reply, fd int) error {
	bufp := sendBufs.Get().(*[]byte)
	defer sendBufs.Put(bufp)
	msg, err := wire.AppendReply((*bufp)[:0], rep, fd >= 0)
	if err != nil {
		c.srv.cfg.Log.Error("encoding a reply failed", "op", rep.Op, "err", err)
		return c.sendErrorReply(rb, rep.ID, rep.Op, rep.Handle, toWire(fmt.Errorf("broker: reply too large: %w", err)))
	}
	*bufp = msg
	if fd < 0 && rb != nil {
		return rb.add(msg)
	}
	return c.conn.Send(msg, fd)
}

func (c *clientConn) sendError(rb *replyBatch, id uint32, op wire.Op, handle uint32, err error) {
	c.sendErrorReply(rb, id, op, handle, toWire(err))
}

func (c *clientConn) sendErrorReply(rb *replyBatch, id uint32, op wire.Op, handle uint32, er wire.ErrorReply) error {
	msg, err := wire.AppendError(nil, id, op, handle, er)
	if err != nil {
		return err
	}
	if rb != nil {
		return rb.add(msg)
	}
	return c.conn.Send(msg, -1)
}

// replyBatch gathers replies into reply batches (wire.BeginBatch), each at
// most the configured message size and replyBatchMax replies, so that a
// batch of requests, or a train of them (see read), costs one sendmsg
// back instead of one per reply. One reply goes alone, as it would have
// without batching. A nil *replyBatch sends at once.
type replyBatch struct {
	c   *clientConn
	buf []byte // wire.BeginBatch's room, then n replies
	n   int
}

func (rb *replyBatch) add(msg []byte) error {
	var err error
	if rb.n > 0 && (len(rb.buf)+len(msg) > rb.c.srv.cfg.Limits.MaxMessage || rb.n == replyBatchMax) {
		err = rb.flush()
	}
	if rb.n == 0 {
		rb.buf, _ = wire.BeginBatch(rb.buf[:0])
	}
	rb.buf = append(rb.buf, msg...)
	rb.n++
	return err
}

// flush sends what rb holds.
func (rb *replyBatch) flush() error {
	if rb == nil || rb.n == 0 {
		return nil
	}
	msg := rb.buf[wire.HeaderSize:] // one reply: alone
	if rb.n > 1 {
		var err error
		if msg, err = wire.EndBatch(rb.buf, 0, wire.KindReply, 0, rb.n); err != nil {
			rb.n = 0
			return err
		}
	}
	rb.n = 0
	err := rb.c.conn.Send(msg, -1)
	if cap(rb.buf) > 64<<10 {
		rb.buf = nil // do not keep a large buffer per reader
	}
	return err
}

// replyBatchMax is the most replies one reply batch holds. Below
// wire.MaxBatch so that a client with many requests in flight gets the
// first replies while the broker serves the rest, rather than all of them
// after the last.
const replyBatchMax = 16

// closeFD closes a descriptor that came with a request (requests carry
// none).
func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
