package wire

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// oobFDs sizes the control buffer. A conforming peer sends at most MaxFDs,
// but a hostile one may send more: the buffer holds a few extra so that the
// surplus is received and closed by us (anything beyond the buffer the
// kernel drops itself and reports MSG_CTRUNC), never silently kept.
const oobFDs = 8

// Conn reads and writes whole messages on a SOCK_SEQPACKET Unix socket. Send
// is safe for concurrent use (each message is one sendmsg, which the socket
// keeps whole); Recv, TryRecv and RecvWaited must be called by one
// goroutine at a time.
type Conn struct {
	uc  *net.UnixConn
	oob []byte
	rc  syscall.RawConn // for TryRecv and RecvWaited
	raw rawRecv
}

// NewConn wraps a connected SOCK_SEQPACKET socket.
func NewConn(uc *net.UnixConn) *Conn {
	rc, _ := uc.SyscallConn() // fails only for a closed socket, which recvRaw reports
	c := &Conn{uc: uc, oob: make([]byte, unix.CmsgSpace(oobFDs*4)), rc: rc}
	c.raw.oob = c.oob
	c.raw.fn = c.raw.recv
	return c
}

// UnixConn returns the underlying socket.
func (c *Conn) UnixConn() *net.UnixConn { return c.uc }

// Close closes the socket.
func (c *Conn) Close() error { return c.uc.Close() }

// Send writes one encoded message; fd, when >= 0, travels with it in
// SCM_RIGHTS. The caller keeps ownership of fd (the kernel duplicates it
// into the message).
func (c *Conn) Send(msg []byte, fd int) error {
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	n, oobn, err := c.uc.WriteMsgUnix(msg, oob, nil)
	if err != nil {
		return fmt.Errorf("capfd wire: send: %w", err)
	}
	if n != len(msg) || oobn != len(oob) {
		return fmt.Errorf("capfd wire: short send: %d of %d bytes, %d of %d control bytes", n, len(msg), oobn, len(oob))
	}
	return nil
}

// Message is one received message. FD is the descriptor that came with it,
// or -1; the receiver owns it and must close it if it does not keep it.
type Message struct {
	Bytes  []byte // aliases the buffer passed to Recv
	Header Header
	FD     int
}

// RecvError reports a message that arrived but was rejected. The connection
// is still usable (SEQPACKET keeps boundaries, so the next message starts
// clean). When HeaderOK, Header identifies the request to answer.
type RecvError struct {
	Header   Header
	HeaderOK bool
	Err      error
}

func (e *RecvError) Error() string { return e.Err.Error() }
func (e *RecvError) Unwrap() error { return e.Err }

// Recv reads one message into buf, which should be MaxMessage bytes or
// more. It returns io.EOF when the peer has closed the connection, a
// *RecvError for a message it rejected (every descriptor that came with it
// already closed), and other errors for a broken socket.
func (c *Conn) Recv(buf []byte) (Message, error) {
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(buf, c.oob)
	return c.received(buf, n, oobn, flags, err)
}

// ErrWouldBlock is TryRecv's error when no message is waiting.
var ErrWouldBlock = errors.New("capfd wire: no message waiting")

// TryRecv is Recv that never waits: it returns ErrWouldBlock when no
// message is waiting.
func (c *Conn) TryRecv(buf []byte) (Message, error) {
	m, _, err := c.recvRaw(buf, false)
	return m, err
}

// RecvWaited is Recv that also reports whether it had to wait for the
// message (none was queued when it was called). It always tries before it
// waits, even just after TryRecv found nothing: the runtime's poller
// forgets a readiness it saw before the wait starts, so a wait without a
// try first could sleep through a message that came in between.
func (c *Conn) RecvWaited(buf []byte) (Message, bool, error) {
	return c.recvRaw(buf, true)
}

// recvRaw receives one message through the socket's RawConn, which lets
// it tell a message that was waiting from one it waited for.
func (c *Conn) recvRaw(buf []byte, wait bool) (Message, bool, error) {
	if c.rc == nil {
		return Message{}, false, fmt.Errorf("capfd wire: receive: no raw connection")
	}
	r := &c.raw
	r.buf, r.wait, r.waited = buf, wait, false
	err := c.rc.Read(r.fn)
	n, oobn, flags, rerr, waited := r.n, r.oobn, r.flags, r.err, r.waited
	r.buf = nil
	if err == nil && rerr == unix.EAGAIN {
		return Message{}, false, ErrWouldBlock
	}
	if err == nil && rerr != nil {
		err = os.NewSyscallError("recvmsg", rerr)
	}
	if err != nil {
		n, oobn, flags = 0, 0, 0
		err = &net.OpError{Op: "read", Net: "unixpacket", Source: c.uc.LocalAddr(), Err: err}
	}
	m, err := c.received(buf, n, oobn, flags, err)
	return m, waited, err
}

// rawRecv is recvRaw's state, in the Conn so that the function RawConn.Read
// calls is made once (a closure per receive would cost allocations).
type rawRecv struct {
	fn     func(fd uintptr) bool
	oob    []byte
	buf    []byte
	wait   bool
	waited bool
	n      int
	oobn   int
	flags  int
	err    error
}

func (r *rawRecv) recv(fd uintptr) bool {
	r.n, r.oobn, r.flags, _, r.err = unix.Recvmsg(int(fd), r.buf, r.oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
	if r.err == unix.EAGAIN && r.wait {
		r.waited = true
		return false
	}
	return true
}

// received checks what one recvmsg got (see Recv).
func (c *Conn) received(buf []byte, n, oobn, flags int, err error) (Message, error) {
	fds := receivedFDs(c.oob[:oobn])
	if err != nil {
		closeAll(fds)
		if errors.Is(err, net.ErrClosed) {
			return Message{}, io.EOF
		}
		return Message{}, fmt.Errorf("capfd wire: receive: %w", err)
	}
	if n == 0 && oobn == 0 {
		// A SEQPACKET read of nothing at all is the peer's orderly close;
		// the protocol has no empty messages.
		return Message{}, io.EOF
	}
	reject := func(err error) (Message, error) {
		closeAll(fds)
		re := &RecvError{Err: err}
		// A header that parsed far enough to carry routing fields lets the
		// receiver answer the right request, even if the rest is bad.
		re.Header, re.HeaderOK = peekHeader(buf[:n])
		return Message{}, re
	}
	if flags&unix.MSG_TRUNC != 0 {
		return reject(protocolErrorf("message larger than the %d-byte limit", len(buf)))
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return reject(protocolErrorf("control data truncated: too many descriptors"))
	}
	if len(fds) > MaxFDs {
		return reject(protocolErrorf("%d descriptors, at most %d allowed", len(fds), MaxFDs))
	}
	h, err := ParseHeader(buf[:n])
	if err != nil {
		return reject(err)
	}
	if int(h.FDs) != len(fds) {
		return reject(protocolErrorf("header announces %d descriptors, %d arrived", h.FDs, len(fds)))
	}
	m := Message{Bytes: buf[:n], Header: h, FD: -1}
	if len(fds) == 1 {
		m.FD = fds[0]
	}
	return m, nil
}

// RecvRequest reads and decodes one request. Requests carry no
// descriptors, so any that arrive are closed.
func (c *Conn) RecvRequest(buf []byte) (Request, error) {
	m, err := c.Recv(buf)
	if err != nil {
		return Request{}, err
	}
	closeFD(m.FD)
	r, err := ParseRequest(m.Bytes)
	if err != nil {
		return r, &RecvError{Header: m.Header, HeaderOK: true, Err: err}
	}
	return r, nil
}

// RecvReply reads and decodes one reply. The returned fd (or -1) belongs to
// the caller; on error it has already been closed.
func (c *Conn) RecvReply(buf []byte) (Reply, int, error) {
	m, err := c.Recv(buf)
	if err != nil {
		return Reply{}, -1, err
	}
	r, err := ParseReply(m.Bytes)
	if err != nil {
		closeFD(m.FD)
		return r, -1, &RecvError{Header: m.Header, HeaderOK: true, Err: err}
	}
	return r, m.FD, nil
}

// receivedFDs extracts every descriptor from SCM_RIGHTS control messages.
// It walks the buffer itself rather than stopping at the first malformed
// entry, because an fd that is installed but not found would leak.
func receivedFDs(oob []byte) []int {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		// The kernel writes well-formed control data; this cannot happen,
		// but if it did we could not tell where descriptors are.
		return nil
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
