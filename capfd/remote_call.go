package capfd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/capfd/capfd/broker/wire"
	"golang.org/x/sys/unix"
)

// call sends req and waits for its reply. The caller owns the result: it
// calls res.release once done with res.rep (whose byte fields alias the
// receive buffer), after taking res.fd if it keeps it.
func (r *Remote) call(req *wire.Request) callResult {
	r.inflight <- struct{}{}
	defer func() { <-r.inflight }()

	ch := resultChans.Get().(chan callResult)
	id, err := r.register(ch)
	if err != nil {
		return callResult{fd: -1, err: err}
	}
	req.ID = id
	if err := r.send(req); err != nil {
		r.unregister(id)
		return callResult{fd: -1, err: err} // ch may still get fail's error: not reused
	}
	res := r.wait(id, ch)
	resultChans.Put(ch) // its one result taken: deliver and fail send once per registration
	return res
}

// resultChans are calls' reply channels (capacity 1), reused once empty.
var resultChans = sync.Pool{New: func() any { return make(chan callResult, 1) }}

// post sends req, which asks for no reply (FlagNoReply), without waiting.
// Close uses it, so that closing a handle costs no round trip; the broker
// serves closes in order, off the in-flight budget. With a broker that
// takes batches, the request goes with the next call, or within
// postDelay (outbox).
func (r *Remote) post(req *wire.Request) error {
	r.mu.Lock()
	dead := r.dead
	r.mu.Unlock()
	if dead != nil {
		return dead
	}
	req.ID = 0
	if r.batching() {
		return r.enqueue(req, true)
	}
	return r.send(req)
}

func (r *Remote) register(ch chan callResult) (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead != nil {
		return 0, r.dead
	}
	for {
		id := r.nextID.Add(1)
		if _, busy := r.pending[id]; id != 0 && !busy {
			r.pending[id] = ch
			return id, nil
		}
	}
}

func (r *Remote) unregister(id uint32) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

func (r *Remote) send(req *wire.Request) error {
	if r.batching() {
		return r.enqueue(req, false)
	}
	bufp := sendBufs.Get().(*[]byte)
	defer sendBufs.Put(bufp)
	msg, err := wire.AppendRequest((*bufp)[:0], req)
	if err != nil {
		return err
	}
	*bufp = msg
	if err := r.conn.Send(msg, -1); err != nil {
		return r.sendFailed(err)
	}
	return nil
}

// sendFailed ends the connection after a failed send and returns the
// error for the call. A send fails this way once the broker has closed
// its end, and the broker says why before it closes: the reason is then
// still queued in the socket (a call made after an idle timeout is the
// usual case). It is read, under the reader token like any read, before
// the connection is declared dead, so that the call fails with it. The
// reads end: the peer is gone, so the socket yields what is queued and
// then its end.
func (r *Remote) sendFailed(err error) error {
	if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.ENOTCONN) {
		r.reader <- struct{}{}
		for r.deadErr() == nil {
			r.readOne()
		}
		<-r.reader
	} else {
		r.fail(&connError{"capfd: broker connection", err})
	}
	return r.deadErr()
}

func (r *Remote) deadErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead
}

var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// wait returns the reply to id. Whoever holds the reader token reads the
// socket, delivering every reply to its caller's channel, until its own
// arrives; the others wait for their reply or for the token, whichever
// comes first. A lone caller thus reads its own reply with no goroutine
// hand-off, and a waiting caller is woken once: by its reply, or to take
// over the reading.
func (r *Remote) wait(id uint32, ch chan callResult) callResult {
	for {
		select {
		case res := <-ch:
			return res
		case r.reader <- struct{}{}:
		}
		for {
			// Only while our reply has not been delivered is it still in
			// the socket, so each read below is sure to end.
			select {
			case res := <-ch:
				<-r.reader
				return res
			default:
			}
			r.readOne()
		}
	}
}

// readOne reads one message and delivers it. The caller holds the reader
// token.
func (r *Remote) readOne() {
	bufp := recvBufs.Get().(*[]byte)
	rep, fd, err := r.recvReply(bufp)
	if err == errBatchDelivered {
		return
	}
	if err != nil {
		recvBufs.Put(bufp)
		var re *wire.RecvError
		switch {
		case errors.As(err, &re) && re.HeaderOK:
			r.deliver(re.Header.ID, callResult{fd: -1, err: fmt.Errorf("capfd: bad reply from broker: %w", err)})
			return
		case errors.Is(err, unix.ECONNRESET) && r.reset == nil:
			// The broker closed with a request of ours unread. The
			// kernel reports that once, then still delivers what the
			// broker sent before it closed: its reason among it.
			r.reset = err
			return
		case errors.Is(err, io.EOF) && r.reset != nil:
			err = r.reset
		}
		r.fail(&connError{"capfd: broker connection", err})
		return
	}
	if rep.ID == 0 && rep.Err != nil {
		// Request id 0 is never a call's (see register): this is the
		// broker saying why it closes the connection, its last message.
		reason := remoteError(rep.Op, rep.Err)
		closeIfValid(fd)
		recvBufs.Put(bufp)
		r.fail(&connError{"capfd: the broker closed the connection", reason})
		return
	}
	r.deliver(rep.ID, callResult{rep: rep, fd: fd, buf: bufp})
}

// errBatchDelivered is recvReply's word that it read a reply batch and
// delivered every reply in it (and gave the buffer back).
var errBatchDelivered = errors.New("capfd: reply batch delivered")

// recvReply is wire.Conn.RecvReply, except that a reply batch (from a
// broker that speaks version 2) is split and each of its replies
// delivered here. A batch that breaks the framing rules, or a reply in it
// that does not parse, ends the connection: only a broken broker sends
// one.
func (r *Remote) recvReply(bufp *[]byte) (wire.Reply, int, error) {
	m, err := r.conn.Recv(*bufp)
	if err != nil {
		return wire.Reply{}, -1, err
	}
	if !wire.IsBatch(m.Bytes) || !r.batching() {
		rep, err := wire.ParseReply(m.Bytes)
		if err != nil {
			closeIfValid(m.FD)
			return rep, -1, &wire.RecvError{Header: m.Header, HeaderOK: true, Err: err}
		}
		return rep, m.FD, nil
	}
	closeIfValid(m.FD) // a batch carries none (SplitBatch refuses one that says so)
	defer recvBufs.Put(bufp)
	subs, err := wire.SplitBatch(m.Bytes, nil)
	if err != nil {
		r.fail(&connError{"capfd: bad reply batch from the broker", err})
		return wire.Reply{}, -1, errBatchDelivered
	}
	reps := make([]wire.Reply, len(subs))
	for i, sub := range subs {
		if reps[i], err = wire.ParseReply(sub); err != nil {
			r.fail(&connError{"capfd: bad reply in a batch from the broker", err})
			return wire.Reply{}, -1, errBatchDelivered
		}
		if len(reps[i].Data) > 0 {
			reps[i].Data = bytes.Clone(reps[i].Data) // the buffer goes back to the pool
		}
	}
	for i := range reps {
		r.deliver(reps[i].ID, callResult{rep: reps[i], fd: -1})
	}
	return wire.Reply{}, -1, errBatchDelivered
}

func (r *Remote) deliver(id uint32, res callResult) {
	r.mu.Lock()
	ch := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if ch == nil {
		// A posted request's reply, or one for no request at all.
		res.release()
		return
	}
	ch <- res
}

// fail marks the connection dead and fails every waiting call with err,
// or with the reason it was already dead for.
func (r *Remote) fail(err error) {
	r.mu.Lock()
	if r.dead == nil {
		r.dead = err
	}
	dead := r.dead
	pending := r.pending
	r.pending = make(map[uint32]chan callResult)
	r.mu.Unlock()
	for _, ch := range pending {
		if ch != nil {
			ch <- callResult{fd: -1, err: dead}
		}
	}
}

// release drops everything res holds.
func (res *callResult) release() {
	closeIfValid(res.fd)
	res.fd = -1
	if res.buf != nil {
		recvBufs.Put(res.buf)
		res.buf = nil
	}
}

// result returns the error of a call: a transport failure, the broker's
// error reply rebuilt as a local error, or a reply to the wrong op.
func (res *callResult) result(op wire.Op) error {
	if res.err != nil {
		return res.err
	}
	if res.rep.Err != nil {
		return remoteError(op, res.rep.Err)
	}
	if res.rep.Op != op {
		return fmt.Errorf("capfd: broker answered %v to a %v request", res.rep.Op, op)
	}
	return nil
}

func closeIfValid(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
