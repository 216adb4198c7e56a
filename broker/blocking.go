package broker

import "fmt"

// Blocking work is bounded because of what it costs: a request blocked in
// a system call (a FIFO's open waiting for the other end, a lock held
// elsewhere, a read from an empty pipe) pins an OS thread for as long as
// it waits, and the Go runtime aborts the whole process when it cannot
// make another thread (RLIMIT_NPROC, or debug.SetMaxThreads' 10,000).
// Without a bound, 20 clients each pipelining 64 FIFO opens grew a broker
// to 1,287 threads, and with RLIMIT_NPROC=300 it died and took every
// client with it.
//
// A request is counted when it has actually blocked: when the watchdog
// finds it still running after handoffAfter and hands the reading on (see
// handoff.go). Counting every request that merely may block (every open
// without O_NONBLOCK) would refuse ordinary opens of regular files
// whenever someone else's FIFOs filled the slots. So:
//
//   - a blocked request takes a slot of its client (Limits.MaxBlocking)
//     and one of the server (Limits.MaxBlockingTotal) for as long as it
//     stays blocked;
//   - a client whose slots are all taken gets a limit error, at once, for
//     every further request that may block; its other requests are served;
//   - a request that blocks when the server's slots are all taken is still
//     handed off (its client's later requests must not wait behind it, or
//     a FIFO's two ends opened on one connection would deadlock), but
//     without a slot, as its connection's one overflow: until it returns,
//     that client gets a limit error for every request that may block.
//
// The threads pinned are thus at most MaxBlockingTotal plus one per
// connection, which is what fitThreads makes room for.

// gate is a counting semaphore that is only ever tried, never waited on:
// a broker thread must not sleep on behalf of a client that is over its
// limit.
type gate chan struct{}

func newGate(n int) gate { return make(gate, n) }

func (g gate) tryEnter() bool {
	select {
	case g <- struct{}{}:
		return true
	default:
		return false
	}
}

func (g gate) leave() { <-g }

// What a blocked request holds (readerSlot.held).
const (
	heldSlots    int32 = iota + 1 // a slot of the client and one of the server
	heldOverflow                  // the client's slot and the connection's overflow
)

// admitBlocking is asked before a request that may block is served: nil,
// or the limit error that says which limit the client is at.
func (c *clientConn) admitBlocking() error {
	if n := len(c.blocking); n >= cap(c.blocking) {
		return errLimit(fmt.Sprintf("%d requests of this client are blocked in the broker (limit %d per client); requests that may block are refused until one returns", n, cap(c.blocking)))
	}
	if c.overflow.Load() {
		return errLimit(fmt.Sprintf("%d requests are blocked in the broker over all clients (limit %d); requests of this client that may block are refused until its own returns", len(c.srv.blocking), cap(c.srv.blocking)))
	}
	return nil
}

// stalled takes what a request the watchdog found blocked holds: it runs
// on the watchdog, so it never waits. 0 means nothing could be taken
// (a client slot is always free, since admitBlocking let the request in
// and only its own reader could have taken one since).
func (c *clientConn) stalled() int32 {
	if !c.blocking.tryEnter() {
		return 0
	}
	c.srv.m.blocking.Inc()
	if c.srv.blocking.tryEnter() {
		return heldSlots
	}
	c.overflow.Store(true)
	return heldOverflow
}

// unstalled gives back what stalled took, when the request returns.
func (c *clientConn) unstalled(held int32) {
	switch held {
	case heldSlots:
		c.srv.blocking.leave()
	case heldOverflow:
		c.overflow.Store(false)
	default:
		return
	}
	c.srv.m.blocking.Dec()
	c.blocking.leave()
}
