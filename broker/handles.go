package broker

import (
	"sync"
)

// handleTable is one client's handles: number -> served capability. Numbers
// are never reused within a connection, so a stale number from a confused
// or malicious client names nothing rather than someone else's handle.
type handleTable struct {
	mu      sync.Mutex
	closed  bool // the client is gone: no new handles
	next    uint32
	max     int
	handles map[uint32]*Served
	onCount func(delta int)
}

func newHandleTable(max int, onCount func(int)) *handleTable {
	return &handleTable{next: 1, max: max, handles: make(map[uint32]*Served), onCount: onCount}
}

// add stores s and returns its number; ok is false (and s untouched) when
// the client already holds its limit of handles.
func (t *handleTable) add(s *Served) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.handles) >= t.max || t.next == 0 {
		return 0, false
	}
	h := t.next
	t.next++
	t.handles[h] = s
	t.onCount(1)
	return h, true
}

func (t *handleTable) get(h uint32) (*Served, bool) {
	t.mu.Lock()
	s, ok := t.handles[h]
	t.mu.Unlock()
	return s, ok
}

// remove takes h out of the table and returns it for the caller to close.
func (t *handleTable) remove(h uint32) (*Served, bool) {
	t.mu.Lock()
	s, ok := t.handles[h]
	if ok {
		delete(t.handles, h)
		t.onCount(-1)
	}
	t.mu.Unlock()
	return s, ok
}

// closeAll releases every handle: the client is gone. Served.Close waits
// for nothing: calls still running finish and the last one releases the
// descriptor. Handles that requests still in flight would create are
// refused (and closed by their creator).
func (t *handleTable) closeAll() {
	t.mu.Lock()
	t.closed = true
	handles := t.handles
	t.handles = make(map[uint32]*Served)
	t.onCount(-len(handles))
	t.mu.Unlock()
	for _, s := range handles {
		s.Close()
	}
}

func (t *handleTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.handles)
}
