package notify

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// stallAfter is how long every worker may be busy before another is
	// started: far above any ordinary request (tens of microseconds, a few
	// milliseconds when the machine is overloaded), below what a user
	// notices.
	stallAfter = 5 * time.Millisecond
	// maxWorkers bounds the pool: as many requests may block at once.
	maxWorkers = 64
)

// pool is the set of workers serving one listener (Linux 6.6+, where
// several threads may wait in the receive and all return ENOENT when the
// filter has no users left).
type pool struct {
	s        *Supervisor
	listener int
	idle     atomic.Int32 // workers waiting in the receive

	mu      sync.Mutex
	workers []*worker
	live    int
	closed  bool
	err     error
	done    chan struct{} // closed when the last worker returns
}

type worker struct {
	busySince atomic.Int64 // UnixNano when the current request began; 0 when idle
}

// servePool serves with one worker and adds more while all are stuck.
func (s *Supervisor) servePool(listener int) error {
	p := &pool{s: s, listener: listener, done: make(chan struct{})}
	p.spawn()
	ticker := time.NewTicker(stallAfter)
	defer ticker.Stop()
	for {
		select {
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.err
		case <-ticker.C:
			if p.stalled() {
				p.spawn()
			}
		}
	}
}

// stalled reports whether no worker is free and one has been busy for
// longer than stallAfter.
func (p *pool) stalled() bool {
	if p.idle.Load() > 0 {
		return false
	}
	now := time.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.workers {
		if since := w.busySince.Load(); since != 0 && now-since > int64(stallAfter) {
			return true
		}
	}
	return false
}

func (p *pool) spawn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.live >= maxWorkers {
		return
	}
	w := &worker{}
	p.workers = append(p.workers, w)
	p.live++
	go p.run(w)
}

// retire reports whether a worker that just finished a request should
// leave: when another worker is already waiting, this one is surplus.
// Waiters are woken together (the receive's wait is not exclusive), so
// every extra waiter costs a wake-up per notification; the pool shrinks back
// to one waiter as soon as the stall that grew it is over.
func (p *pool) retire() bool {
	if p.idle.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live > 1
}

func (p *pool) run(w *worker) {
	// Locked for good: the worker takes on the tasks' credentials
	// (asCaller), which are per thread. The thread is unlocked only when
	// the worker leaves with its own credentials; otherwise it ends with
	// the goroutine.
	runtime.LockOSThread()
	err := p.serve(w)
	tainted := errors.Is(err, errTainted)
	if !tainted {
		defer runtime.UnlockOSThread()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.workers = slices.DeleteFunc(p.workers, func(x *worker) bool { return x == w })
	if tainted && !p.closed {
		// This thread is done for; a fresh one takes its place.
		nw := &worker{}
		p.workers = append(p.workers, nw)
		go p.run(nw)
		return
	}
	if err != nil && p.err == nil {
		p.err = err
	}
	p.live--
	if p.live == 0 {
		p.closed = true
		close(p.done)
	}
}

func (p *pool) serve(w *worker) error {
	c := &call{s: p.s, listener: p.listener}
	defer c.closeCaches()
	for {
		p.idle.Add(1)
		err := recv(c.listener, &c.req)
		p.idle.Add(-1)
		if err == nil {
			w.busySince.Store(time.Now().UnixNano())
			c.handle()
			w.busySince.Store(0)
			if c.cred.tainted {
				// Another worker takes over if one is needed.
				return errTainted
			}
			if p.retire() {
				return nil
			}
			continue
		}
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOENT):
			// Either a task died between wake-up and receive, or no task
			// uses the filter any more: only the latter reports POLLHUP.
			gone, perr := filterOrphaned(c.listener)
			if perr != nil {
				return perr
			}
			if gone {
				return nil
			}
		default:
			return fmt.Errorf("notify: receive: %w", err)
		}
	}
}
