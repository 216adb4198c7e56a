package capfd

import (
	"encoding/binary"
	"runtime"
	"sync"
	"time"

	"github.com/capfd/capfd/broker/wire"
)

// postDelay bounds how long a posted request (a close) waits for a call
// to ride with. Closes are posted: the broker answers none, and the client
// never waited for one; now they also go out with the next request, in
// the same message (a batch), rather than in a message of their own,
// which cost a sendmsg here and a recvmsg and a wake-up in the broker for
// every close. A close with nothing after it goes within postDelay.
const postDelay = time.Millisecond

// outbox is the requests encoded and waiting to be sent. Whoever finds
// nobody sending becomes the sender and sends everything queued, in
// batches (wire.BeginBatch) when the broker speaks them, until the queue
// is empty; callers that queue a request meanwhile leave it to that
// sender (group commit). So many goroutines calling at once cost one
// sendmsg per batch, not one each, and a lone caller sends its own
// request at once.
type outbox struct {
	mu      sync.Mutex
	buf     []byte // encoded messages, one after the other
	ends    []int  // where each ends in buf
	sending bool   // a sender is draining the queue
	armed   bool   // the post timer is set
	timer   *time.Timer

	spare     []byte // the other buffer, swapped with buf by the sender
	spareEnds []int
	batch     []byte // the sender's batch under construction
}

// batching reports whether the broker takes batches (protocol version 2).
func (r *Remote) batching() bool { return r.version >= wire.BatchVersion }

// enqueue encodes req into the outbox and, unless post or someone is
// sending already, sends the queue. post leaves it for the next call
// or for the post timer.
func (r *Remote) enqueue(req *wire.Request, post bool) error {
	o := &r.out
	o.mu.Lock()
	buf, err := wire.AppendRequest(o.buf, req)
	if err != nil {
		o.mu.Unlock()
		return err
	}
	o.buf = buf
	o.ends = append(o.ends, len(buf))
	if o.sending {
		o.mu.Unlock()
		return nil
	}
	if post {
		if !o.armed {
			o.armed = true
			if o.timer == nil {
				o.timer = time.AfterFunc(postDelay, r.flushPosted)
			} else {
				o.timer.Reset(postDelay)
			}
		}
		o.mu.Unlock()
		return nil
	}
	o.sending = true
	if len(r.inflight) > 1 {
		// Other calls are in flight, and those whose replies came in
		// the same batch as ours are runnable now: let them queue their
		// next requests first, to go in one batch with this one.
		o.mu.Unlock()
		runtime.Gosched()
		o.mu.Lock()
	}
	return r.drain()
}

// flushPosted sends posted requests no call took along.
func (r *Remote) flushPosted() {
	o := &r.out
	o.mu.Lock()
	o.armed = false
	if o.sending || len(o.ends) == 0 || r.deadErr() != nil {
		o.mu.Unlock()
		return
	}
	o.sending = true
	r.drain()
}

// drain sends the queue until it is empty; the caller holds o.mu and has
// set o.sending, and drain unlocks. After a failed send the connection is
// over (sendFailed): what is still queued is dropped, and the calls it
// belongs to fail with the connection.
func (r *Remote) drain() error {
	o := &r.out
	for len(o.ends) > 0 {
		buf, ends := o.buf, o.ends
		o.buf, o.ends = o.spare[:0], o.spareEnds[:0]
		o.mu.Unlock()
		err := r.sendQueued(buf, ends)
		o.mu.Lock()
		o.spare, o.spareEnds = buf[:0], ends[:0]
		if err != nil {
			o.buf, o.ends = o.buf[:0], o.ends[:0]
			o.sending = false
			o.mu.Unlock()
			return r.sendFailed(err)
		}
	}
	o.sending = false
	o.mu.Unlock()
	return nil
}

// sendQueued sends the messages of buf (ending at ends): one alone as
// itself, several in batches within the broker's message limit and
// wire.MaxBatch. Only the sender calls it.
func (r *Remote) sendQueued(buf []byte, ends []int) error {
	limit := int(min(r.limits.MaxMessage, wire.MaxMessage))
	start := 0
	for i := 0; i < len(ends); {
		// The longest run from i that fits one batch.
		j, size := i, wire.HeaderSize
		prev := start
		for j < len(ends) && j-i < wire.MaxBatch && size+ends[j]-prev <= limit {
			size += ends[j] - prev
			prev = ends[j]
			j++
		}
		if !r.batching() || j-i <= 1 {
			j = i + 1
			if err := r.conn.Send(buf[start:ends[i]], -1); err != nil {
				return err
			}
		} else {
			b, at := wire.BeginBatch(r.out.batch[:0])
			b = append(b, buf[start:ends[j-1]]...)
			b, err := wire.EndBatch(b, at, wire.KindRequest, batchID(buf[start:ends[j-1]]), j-i)
			if err != nil {
				return err
			}
			r.out.batch = b
			if err := r.conn.Send(b, -1); err != nil {
				return err
			}
		}
		start = ends[j-1]
		i = j
	}
	return nil
}

// batchID is the id a batch of msgs is sent with: that of the first
// request awaiting a reply, to which the broker answers if it refuses the
// batch as a whole (it never should: the batch is well formed).
func batchID(msgs []byte) uint32 {
	for len(msgs) >= wire.HeaderSize {
		if id := binary.LittleEndian.Uint32(msgs[8:]); id != 0 {
			return id
		}
		msgs = msgs[wire.HeaderSize+int(binary.LittleEndian.Uint32(msgs[16:])):]
	}
	return 0
}
