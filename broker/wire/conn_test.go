package wire

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// seqpacketPair returns a raw sender fd and a Conn for the other end.
func seqpacketPair(t *testing.T) (int, *Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "seqpacket")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); c.Close() })
	return fds[0], NewConn(c.(*net.UnixConn))
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// openFDs opens n descriptors to send; the sender closes its copies.
func openFDs(t *testing.T, n int) []int {
	t.Helper()
	var fds []int
	for range n {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	return fds
}

// sendRaw sends msg with n fresh descriptors attached and closes the
// sender's copies, so afterwards the only references are in the socket.
func sendRaw(t *testing.T, sock int, msg []byte, n int) {
	t.Helper()
	var oob []byte
	if n > 0 {
		fds := openFDs(t, n)
		oob = unix.UnixRights(fds...)
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
	}
	if err := unix.Sendmsg(sock, msg, oob, nil, 0); err != nil {
		t.Fatalf("sendmsg: %v", err)
	}
}

func TestRecvClosesDescriptorsOfRejectedMessages(t *testing.T) {
	sock, conn := seqpacketPair(t)
	good, _ := AppendRequest(nil, &Request{ID: 77, Op: OpFstat, Handle: 1})
	openReply, _ := AppendReply(nil, &Reply{ID: 78, Op: OpOpen, NewHandle: 2}, true)
	buf := make([]byte, MaxMessage)

	// Warm up: the runtime's poller creates its own descriptors lazily.
	sendRaw(t, sock, good, 0)
	if _, err := conn.RecvRequest(buf); err != nil {
		t.Fatal(err)
	}

	// The control: a plain recvmsg of garbage with descriptors installs
	// them in this process, so the count below does see a leak.
	before := countFDs(t)
	sendRaw(t, sock, []byte("garbage"), 3)
	_, oobn, _, _, err := conn.UnixConn().ReadMsgUnix(buf, conn.oob)
	if err != nil {
		t.Fatal(err)
	}
	leaked := receivedFDs(conn.oob[:oobn])
	if got := countFDs(t); got != before+3 || len(leaked) != 3 {
		t.Fatalf("control: plain recvmsg left %d more descriptors open (%d parsed), want 3", got-before, len(leaked))
	}
	closeAll(leaked)

	tests := []struct {
		name   string
		msg    []byte
		fds    int
		reply  bool
		wantID uint32 // routing recovered for the error answer; 0 = none
	}{
		{"garbage with one fd", []byte("not a capfd message at all"), 1, false, 0},
		{"garbage with many fds", []byte{0xfd, 0xca, 1}, 5, false, 0},
		{"more fds than the control buffer", []byte("x"), 20, false, 0},
		{"request with an fd", good, 1, false, 77},
		{"header count disagrees", patch(good, func(b []byte) []byte { b[6] = 1; return b }), 0, false, 77},
		{"oversized with an fd", append(append([]byte(nil), good...), make([]byte, MaxMessage)...), 1, false, 77},
		{"reply missing its fd", patch(openReply, func(b []byte) []byte { return b }), 0, true, 78},
		{"malformed reply with an fd", patch(openReply, func(b []byte) []byte { return b[:len(b)-1] }), 1, true, 78},
		{"fd on a stat reply", func() []byte {
			m, _ := AppendReply(nil, &Reply{ID: 79, Op: OpStat}, false)
			m[6] = 1
			return m
		}(), 1, true, 79},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := countFDs(t)
			if tc.msg == nil {
				t.Fatal("no message")
			}
			sendRaw(t, sock, tc.msg, tc.fds)
			var err error
			if tc.reply {
				var fd int
				_, fd, err = conn.RecvReply(buf)
				if err == nil {
					unix.Close(fd)
				}
			} else {
				_, err = conn.RecvRequest(buf)
			}
			var re *RecvError
			if !errors.As(err, &re) {
				// The "reply missing its fd" case is only wrong because
				// the header says 1 and none came.
				t.Fatalf("got %v, want a *RecvError", err)
			}
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("error %v does not wrap ErrProtocol", err)
			}
			if tc.wantID != 0 && (!re.HeaderOK || re.Header.ID != tc.wantID) {
				t.Errorf("routing not recovered: ok=%v id=%d, want %d", re.HeaderOK, re.Header.ID, tc.wantID)
			}
			if after := countFDs(t); after != before {
				t.Errorf("descriptors leaked: %d open before, %d after", before, after)
			}
		})
	}

	// The connection is still usable after every rejection.
	sendRaw(t, sock, good, 0)
	if r, err := conn.RecvRequest(buf); err != nil || r.ID != 77 {
		t.Fatalf("connection unusable after rejections: %+v, %v", r, err)
	}
}

func TestSendRecvDescriptor(t *testing.T) {
	a, b := connPair(t)
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, _ := AppendReply(nil, &Reply{ID: 3, Op: OpFd}, true)
	if err := a.Send(msg, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	rep, fd, err := b.RecvReply(make([]byte, MaxMessage))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st1, st2 unix.Stat_t
	unix.Fstat(int(f.Fd()), &st1)
	unix.Fstat(fd, &st2)
	if rep.ID != 3 || st1.Ino != st2.Ino {
		t.Errorf("got id %d, inode %d; want 3, %d", rep.ID, st2.Ino, st1.Ino)
	}
	// Received descriptors are close-on-exec, so they never leak into a
	// program the client runs.
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
		t.Error("received descriptor is not close-on-exec")
	}

	a.Close()
	if _, _, err := b.RecvReply(make([]byte, MaxMessage)); !errors.Is(err, io.EOF) {
		t.Errorf("after peer close: %v, want io.EOF", err)
	}
}

func connPair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]*Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "seqpacket")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = NewConn(c.(*net.UnixConn))
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// TestTryRecvAndRecvWaited: TryRecv never waits (ErrWouldBlock on an
// empty socket) and RecvWaited says whether it had to; both apply Recv's
// checks (a descriptor beyond the header's count is closed and the
// message refused) and see the peer's close as io.EOF.
func TestTryRecvAndRecvWaited(t *testing.T) {
	peer, c := seqpacketPair(t)
	buf := make([]byte, MaxMessage)
	if _, err := c.TryRecv(buf); err != ErrWouldBlock {
		t.Fatalf("TryRecv on an empty socket: %v", err)
	}
	msg, _ := AppendRequest(nil, &Request{ID: 3, Op: OpFstat, Handle: 1})
	unix.Sendmsg(peer, msg, nil, nil, 0)
	if m, err := c.TryRecv(buf); err != nil || m.Header.ID != 3 {
		t.Fatalf("TryRecv of a waiting message: %+v, %v", m.Header, err)
	}
	unix.Sendmsg(peer, msg, nil, nil, 0)
	if m, waited, err := c.RecvWaited(buf); err != nil || waited || m.Header.ID != 3 {
		t.Fatalf("RecvWaited of a waiting message: %+v, waited %v, %v", m.Header, waited, err)
	}
	// An empty socket: RecvWaited waits (here until the deadline).
	c.UnixConn().SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := c.RecvWaited(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("RecvWaited on an empty socket past the deadline: %v", err)
	}
	c.UnixConn().SetReadDeadline(time.Time{})
	before := countFDs(t)
	sendRaw(t, peer, msg, 1) // the header says none
	if _, err := c.TryRecv(buf); !errors.As(err, new(*RecvError)) {
		t.Errorf("TryRecv of a request with an undeclared descriptor: %v", err)
	}
	if after := countFDs(t); after != before {
		t.Errorf("%d descriptors open after the refusal, %d before", after, before)
	}
	unix.Shutdown(peer, unix.SHUT_WR)
	if _, _, err := c.RecvWaited(buf); err != io.EOF {
		t.Errorf("RecvWaited after the peer's close: %v", err)
	}
}
