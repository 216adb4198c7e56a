package broker

import (
	"sync"
	"sync/atomic"
	"time"
)

// handoffAfter is how long a reader serves a request that may block (see
// mayBlock) before the reading passes to a new goroutine. Requests are
// served inline by the reader, with no goroutine to schedule (on a busy
// machine scheduling one costs more than the operation); one that blocks
// (a lock held elsewhere, a FIFO, a pipe) stops holding up the requests
// pipelined behind it after this long, and two requests of one client that
// wait on each other (a FIFO's reader and writer) cannot deadlock the
// connection.
const handoffAfter = 500 * time.Microsecond

// Reader states, for the handoff.
const (
	readerReading int32 = iota
	readerServing       // serving a request that may block
	readerHanded        // a new reader was started; this one serves, then exits
)

// readerSlot is a reader as the watchdog sees it.
type readerSlot struct {
	state   atomic.Int32
	since   atomic.Int64 // when the request being served started, UnixNano
	handoff func()       // starts the next reader
	// stalled takes the blocking slots of a request found blocked (see
	// blocking.go) and returns what it took, for unstalled; held records
	// it, written before the state becomes readerHanded.
	stalled   func() int32
	unstalled func(int32)
	held      atomic.Int32
	// rest is what follows the request being served in its batch
	// (copied): the next reader serves it first. Written before arm,
	// read by the handoff only after the watchdog won the state.
	rest [][]byte
}

// watchdog is the one goroutine (per process) that hands the reading on
// for readers stuck in a request. Why not a timer per request: arming and
// stopping a runtime timer for every open cost 10-20 µs per request on the
// project's machines (it disturbs the network poller's sleep), more than
// the open itself. The watchdog ticks while requests that may block come
// in, and sleeps until woken once they have stopped for a while.
var watchdog struct {
	once    sync.Once
	mu      sync.Mutex
	readers map[*readerSlot]struct{}
	armed   atomic.Int64 // requests being served that may block
	wake    chan struct{}
}

func watchdogStart() {
	watchdog.once.Do(func() {
		watchdog.readers = make(map[*readerSlot]struct{})
		watchdog.wake = make(chan struct{}, 1)
		go watchdogRun()
	})
}

// watchdogLinger is how many idle ticks the watchdog waits before it
// sleeps until woken: under a stream of requests that may block (opens),
// waking it for each would cost more than letting it tick.
const watchdogLinger = 200

func watchdogRun() {
	for range watchdog.wake {
		for idle := 0; idle < watchdogLinger; {
			time.Sleep(handoffAfter / 2)
			if watchdog.armed.Load() == 0 {
				idle++
				continue
			}
			idle = 0
			now := time.Now().UnixNano()
			watchdog.mu.Lock()
			for s := range watchdog.readers {
				if s.state.Load() != readerServing || now-s.since.Load() < int64(handoffAfter) {
					continue
				}
				held := s.stalled()
				s.held.Store(held)
				if s.state.CompareAndSwap(readerServing, readerHanded) {
					go s.handoff()
				} else {
					s.unstalled(held) // it returned meanwhile
				}
			}
			watchdog.mu.Unlock()
		}
	}
}

// register makes a reader known to the watchdog; the returned function
// forgets it.
func (s *readerSlot) register() func() {
	watchdogStart()
	watchdog.mu.Lock()
	watchdog.readers[s] = struct{}{}
	watchdog.mu.Unlock()
	return func() {
		watchdog.mu.Lock()
		delete(watchdog.readers, s)
		watchdog.mu.Unlock()
	}
}

// arm marks the start of a request that may block.
func (s *readerSlot) arm() {
	s.since.Store(time.Now().UnixNano())
	s.state.Store(readerServing)
	watchdog.armed.Add(1)
	select {
	case watchdog.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// disarm marks the end of the request and reports whether this goroutine
// is still the reader (false: the watchdog handed the reading on, and
// what the blocked request held is given back now).
func (s *readerSlot) disarm() bool {
	watchdog.armed.Add(-1)
	if s.state.CompareAndSwap(readerServing, readerReading) {
		return true
	}
	s.unstalled(s.held.Load())
	return false
}
