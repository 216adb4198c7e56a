package notify

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// A FIFO open that would block (see openIn) is answered later by a
// goroutine that polls for the other end without blocking: it holds no OS
// thread and no worker, so no number of waiting opens can stall the
// supervisor or exhaust its threads, and it notices when its task is gone
// (ID_VALID), so nothing it waits on outlives the program. The cost is
// latency: the open returns up to fifoPollMax after its other end
// appears.
const (
	// maxFifoWaits bounds the waiting opens (each holds a descriptor);
	// the next one fails with ENFILE, and is logged.
	maxFifoWaits = 1024
	fifoPollMin  = 100 * time.Microsecond
	fifoPollMax  = 20 * time.Millisecond
)

// awaitWriter answers a FIFO reader's open with fd (opened O_NONBLOCK)
// once the FIFO has data or a writer has come and gone, which is as soon
// as a blocking read could return. The probe fd itself is the answer:
// reopening blocking instead would race, since a writer satisfied by the
// probe could be gone before the second open started waiting, which would
// then wait forever. The open returns later than natively (when the writer
// writes rather than when it opens); what the program reads is the same.
func (c *call) awaitWriter(l location, op string, fd int, cloexec bool) result {
	ready := func() (result, bool) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 0); err != nil || n == 0 {
			return result{}, false // EINTR or nothing yet: poll again
		}
		if err := vfsops.SetStatusFlags(fd, 0); err != nil {
			unix.Close(fd)
			return fail(unix.EIO), true
		}
		return installFd(fd, cloexec), true
	}
	return c.waitFifo(l, op, ready, func() { unix.Close(fd) })
}

// awaitReader finishes a FIFO writer's open, which failed with ENXIO
// because no reader exists yet, by trying it again, without blocking,
// until a reader appears. dirfd is duplicated because the caller may close
// it when this returns. Natively the writer is released by a reader that
// opens and closes again at once; here such a reader may come and go
// between two tries, and the writer waits for the next.
func (c *call) awaitReader(l location, dirfd int, rest string, flags int, mode uint32, how vfsops.Resolve, op string) result {
	dup, err := vfsops.Dup(dirfd)
	if err != nil {
		return fail(unix.EMFILE)
	}
	l.g = &grant{Grant: l.g.Grant, names: l.g.names, fd: dup, isDir: l.g.isDir}
	// The goroutine has a call of its own: c serves the next request.
	sub := &call{s: c.s, listener: c.listener}
	sub.req.ID, sub.req.Pid = c.req.ID, c.req.Pid
	opened := func() (result, bool) {
		// The open runs with the task's credentials (asCaller), which
		// are per thread: the goroutine holds its thread while it does,
		// and a thread that could not take its own back never serves
		// another goroutine (it ends with this one).
		runtime.LockOSThread()
		fd, err := sub.openAt(l, dup, rest, flags|unix.O_NONBLOCK, mode, how)
		if sub.cred.tainted {
			if err == nil {
				unix.Close(fd)
			}
			unix.Close(dup)
			sub.closeCaches()
			finish(sub.listener, sub.req.ID, fail(unix.EIO))
			runtime.Goexit() // runs waitFifo's deferred release
		}
		runtime.UnlockOSThread()
		if errnoIs(err, unix.ENXIO) {
			return result{}, false
		}
		unix.Close(dup)
		sub.closeCaches()
		if err != nil {
			return fail(sub.errnoOf(op, l, err)), true
		}
		if err := vfsops.SetStatusFlags(fd, flags&(unix.O_APPEND|unix.O_DIRECT|unix.O_NOATIME)); err != nil {
			unix.Close(fd)
			return fail(unix.EIO), true
		}
		return installFd(fd, flags&unix.O_CLOEXEC != 0), true
	}
	return c.waitFifo(l, op, opened, func() { unix.Close(dup); sub.closeCaches() })
}

// waitFifo answers the notification later: a goroutine calls step, with
// growing pauses, until it gives the answer (step has then released what it
// held), or the task is gone (then abandon releases it). Over maxFifoWaits
// the open fails at once with ENFILE.
func (c *call) waitFifo(l location, op string, step func() (result, bool), abandon func()) result {
	s := c.s
	if s.fifoWaits.Add(1) > maxFifoWaits {
		s.fifoWaits.Add(-1)
		abandon()
		c.report(Refusal{Kind: KindLimit, Op: op, Path: l.abs, Why: fmt.Sprintf("%d FIFO opens already wait for their other end; this one fails with ENFILE", maxFifoWaits)})
		return fail(unix.ENFILE)
	}
	listener, id := c.listener, c.req.ID
	go func() {
		defer s.fifoWaits.Add(-1)
		for delay := fifoPollMin; ; delay = min(2*delay, fifoPollMax) {
			if r, done := step(); done {
				finish(listener, id, r)
				return
			}
			if !idValid(listener, id) {
				abandon() // the task died waiting
				return
			}
			time.Sleep(delay)
		}
	}()
	return pending
}
