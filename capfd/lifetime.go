package capfd

import "sync/atomic"

// lifetime counts the calls in flight on a handle so that Close never
// releases a handle (and lets the kernel reuse its fd number) while another
// goroutine is still using it: the release is done by whoever finishes
// last, Close or the final call. This is what os.File's fdMutex does, cut
// down to the part capfd needs.
type lifetime struct {
	// state holds the number of calls in flight, plus closedBit once Close
	// has been called.
	state atomic.Int64
}

const closedBit = 1 << 62

// acquire registers a call; it fails once the handle is closed.
func (l *lifetime) acquire() bool {
	for {
		s := l.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if l.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// release ends a call and reports whether the caller must now release the
// handle: Close came while it was running and it was the last one.
func (l *lifetime) release() (releaseNow bool) {
	return l.state.Add(-1) == closedBit
}

// close marks the handle closed. first is false if it already was; when
// releaseNow is true no call is in flight and the caller releases the
// handle itself, otherwise the last release does.
func (l *lifetime) close() (first, releaseNow bool) {
	for {
		s := l.state.Load()
		if s&closedBit != 0 {
			return false, false
		}
		if l.state.CompareAndSwap(s, s|closedBit) {
			return true, s == 0
		}
	}
}
