package broker

import (
	"math"
	"time"
)

// A client that said hello and then nothing used to hold its slot (one of
// MaxClients), its handles and its descriptors forever. watchIdle ends a
// connection of Serve's that has had no request in flight and received
// none for Config.IdleTimeout, after telling the client so.
//
// Why a timer per connection, re-armed only when it fires, and not a read
// deadline per request: arming a runtime timer for every request cost
// 10-20 µs per request here (see handoff.go). The reader only stores the
// time of each request's arrival and completion.

// watchIdle starts watching c and returns the function that stops it.
// A timeout of 0 or less watches nothing.
func (c *clientConn) watchIdle(timeout time.Duration) (stop func()) {
	if timeout <= 0 {
		return func() {}
	}
	c.touch(time.Now())
	var t *time.Timer
	// Armed for good only once t is set: the function reads it.
	t = time.AfterFunc(time.Duration(math.MaxInt64), func() {
		if len(c.inflight) > 0 || c.overflow.Load() || len(c.blocking) > 0 {
			// A request is being served, maybe blocked for long: the
			// client is waiting, not idle.
			c.srv.idleDeferred.Add(1)
			t.Reset(timeout)
			return
		}
		if rest := time.Until(time.Unix(0, c.lastActive.Load()).Add(timeout)); rest > 0 {
			t.Reset(rest)
			return
		}
		// Wake the reader; a request that raced in is still served,
		// and the reader ends at its next read (see serve).
		c.idleExpired.Store(true)
		c.conn.UnixConn().SetReadDeadline(time.Unix(1, 0))
	})
	t.Reset(timeout)
	return func() { t.Stop() }
}

// touch records activity at now.
func (c *clientConn) touch(now time.Time) { c.lastActive.Store(now.UnixNano()) }
