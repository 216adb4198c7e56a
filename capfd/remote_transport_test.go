package capfd

import (
	"net"
	"os"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// TestRemoteTransportSendsTheTablesOp calls every method of the remote
// transport against a fake broker that records the op of each request
// (and refuses it): each must send the op the protocol's table says
// performs its vfsops operation (wire.ServedBy), so the client's requests,
// built by hand in remote_transport.go, cannot drift from the table the
// broker's handlers are checked against (broker TestHandlersMatchOpTable).
func TestRemoteTransportSendsTheTablesOp(t *testing.T) {
	conn, ops := fakeBroker(t)
	rem, err := NewRemote(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	tr := rem.t
	ts := unix.Timespec{}
	buf := make([]byte, 16)
	calls := []struct {
		vfs  vfsops.Op
		call func()
	}{
		{vfsops.OpOpen, func() { tr.Open(1, "f", unix.O_RDONLY, 0, 0, rights.Read) }},
		{vfsops.OpReopen, func() { tr.Reopen(1, unix.O_RDONLY, rights.Read) }},
		{vfsops.OpMkdir, func() { tr.Mkdir(1, "d", 0o755, 0) }},
		{vfsops.OpUnlink, func() { tr.Unlink(1, "f", 0) }},
		{vfsops.OpRmdir, func() { tr.Rmdir(1, "d", 0) }},
		{vfsops.OpRename, func() { tr.Rename(1, "a", 1, "b", 0, 0) }},
		{vfsops.OpLink, func() { tr.Link(1, "a", 1, "b", 0) }},
		{vfsops.OpSymlink, func() { tr.Symlink("t", 1, "l", 0) }},
		{vfsops.OpReadlink, func() { tr.Readlink(1, "l", 0) }},
		{vfsops.OpStat, func() { tr.Stat(1, "f", 0, true) }},
		{vfsops.OpChmod, func() { tr.Chmod(1, "f", 0o644, 0) }},
		{vfsops.OpChown, func() { tr.Chown(1, "f", -1, -1, 0, true) }},
		{vfsops.OpChtimes, func() { tr.Chtimes(1, "f", ts, ts, 0, true) }},
		{vfsops.OpTruncate, func() { tr.Truncate(1, "f", 0, 0) }},
		{vfsops.OpBindMount, func() { tr.BindMount(1, 1, "m", 0) }},
		{vfsops.OpFstat, func() { tr.Fstat(1) }},
		{vfsops.OpFtruncate, func() { tr.Ftruncate(1, 0) }},
		{vfsops.OpFchmod, func() { tr.Fchmod(1, 0o644) }},
		{vfsops.OpFchown, func() { tr.Fchown(1, -1, -1) }},
		{vfsops.OpFutimes, func() { tr.Futimes(1, ts, ts) }},
		{vfsops.OpSync, func() { tr.Fsync(1) }},
		{vfsops.OpLock, func() { tr.Flock(1, unix.LOCK_SH) }},
		{vfsops.OpRead, func() { tr.Read(1, buf) }},
		{vfsops.OpPread, func() { tr.Pread(1, buf, 0) }},
		{vfsops.OpWrite, func() { tr.Write(1, buf) }},
		{vfsops.OpPwrite, func() { tr.Pwrite(1, buf, 0) }},
		{vfsops.OpSeek, func() { tr.Seek(1, 0, 0) }},
		{vfsops.OpReaddir, func() { tr.ReadDirents(1, buf) }},
		{vfsops.OpXattrGet, func() { tr.Getxattr(1, "user.a") }},
		{vfsops.OpXattrSet, func() { tr.Setxattr(1, "user.a", buf, 0) }},
		{vfsops.OpXattrList, func() { tr.Listxattr(1) }},
		{vfsops.OpXattrRemove, func() { tr.Removexattr(1, "user.a") }},
		{vfsops.OpExec, func() { tr.Exec(1, []string{"x"}, nil) }},
	}
	seen := map[vfsops.Op]bool{}
	for _, c := range calls {
		seen[c.vfs] = true
		want, ok := wire.ServedBy(c.vfs)
		if !ok {
			t.Errorf("%v: no wire op performs it", c.vfs)
			continue
		}
		c.call()
		if got := <-ops; got != want {
			t.Errorf("the transport's %v sent %v, the table says %v", c.vfs, got, want)
		}
	}
	// A write of a file opened O_APPEND is the same request.
	if op, _ := wire.ServedBy(vfsops.OpAppend); op != wire.OpWrite {
		t.Errorf("append is served by %v, the transport sends %v", op, wire.OpWrite)
	}
	seen[vfsops.OpAppend] = true
	// The protocol's own ops, which the table gives no vfsops operation.
	for _, c := range []struct {
		want wire.Op
		call func()
	}{
		{wire.OpOpenDir, func() { tr.OpenDir(1, "d", 0, rights.Pair{}) }},
		{wire.OpDup, func() { tr.Dup(1, rights.Pair{}) }},
		{wire.OpFd, func() { tr.Fd(1) }},
		{wire.OpClose, func() { tr.Close(1) }},
	} {
		c.call()
		if got := <-ops; got != c.want {
			t.Errorf("the transport's %v sent %v", c.want, got)
		}
	}
	for _, v := range vfsops.Ops() {
		if _, ok := wire.ServedBy(v); ok && !seen[v] {
			t.Errorf("vfsops op %v has a wire op but no transport call in this test", v)
		}
	}
}

// fakeBroker returns the client's end of a socketpair whose other end
// answers the handshake, then sends every request's op on ops and refuses
// the request.
func fakeBroker(t *testing.T) (client *net.UnixConn, ops <-chan wire.Op) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "fake-broker")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
	}
	t.Cleanup(func() { conns[1].Close() })
	srv := wire.NewConn(conns[1])
	got := make(chan wire.Op, 1)
	go func() {
		buf := make([]byte, wire.MaxMessage)
		for {
			req, err := srv.RecvRequest(buf)
			if err != nil {
				return
			}
			var msg []byte
			if req.Op == wire.OpHello {
				msg, err = wire.AppendReply(nil, &wire.Reply{ID: req.ID, Op: wire.OpHello, Version: wire.MaxVersion,
					Limits: wire.Limits{MaxInflight: 4, MaxMessage: wire.MaxMessage}}, false)
			} else {
				got <- req.Op
				if req.Flags&wire.FlagNoReply != 0 {
					continue
				}
				msg, err = wire.AppendError(nil, req.ID, req.Op, req.Handle, wire.ErrorReply{Errno: uint32(unix.EPERM), Code: wire.CodeErrno, Message: "refused"})
			}
			if err != nil || srv.Send(msg, -1) != nil {
				return
			}
		}
	}()
	return conns[0], got
}
