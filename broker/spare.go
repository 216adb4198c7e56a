package broker

import (
	"errors"
	"net"
	"sync"

	"github.com/capfd/capfd/broker/wire"
	"golang.org/x/sys/unix"
)

// Out of descriptors, accept fails and the connection waits in the
// listen queue, unanswered; a client that gives up sees only a reset. The
// broker keeps one spare descriptor for that case (the trick libev and
// nginx use): on EMFILE it closes the spare, accepts the waiting
// connection into its place, tells the client why, closes it, and takes
// the spare back.

// spareFD is the reserved descriptor; -1 while it is lent out.
type spareFD struct {
	mu sync.Mutex
	fd int
}

func newSpareFD() *spareFD {
	s := &spareFD{fd: -1}
	s.restore()
	return s
}

// lend closes the spare so that its number can be used, and reports
// whether there was one.
func (s *spareFD) lend() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return false
	}
	unix.Close(s.fd)
	s.fd = -1
	return true
}

// restore takes the spare back (if a descriptor is free again).
func (s *spareFD) restore() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			s.fd = fd
		}
	}
}

func (s *spareFD) close() {
	s.lend()
}

func outOfDescriptors(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// refuseOutOfDescriptors accepts one waiting connection with the spare's
// descriptor and refuses it with the reason; false if it could not.
func (s *Server) refuseOutOfDescriptors(ln *net.UnixListener, spare *spareFD) bool {
	if !spare.lend() {
		return false
	}
	uc, err := ln.AcceptUnix()
	if err != nil {
		spare.restore()
		return false
	}
	s.refusedConn(s.conns.Add(1), refusedDescriptors, "err", "the broker is out of file descriptors")
	go func() {
		refuse(uc, &replyError{code: wire.CodeLimit, errno: unix.EMFILE, msg: "the broker is out of file descriptors: try again later"})
		spare.restore()
	}()
	return true
}
