package broker

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// batchClient speaks protocol version 2 on a raw connection: it sends
// batches of requests and splits the reply batches it gets.
type batchClient struct {
	*rawClient
	batches int // reply batches received
}

func batchServed(t *testing.T, srv *Server, grants []Grant) *batchClient {
	t.Helper()
	conn, _ := brokertest.Pair(t, func(ctx context.Context, c *net.UnixConn) error {
		srv.ServeConn(ctx, c, grants)
		return nil
	})
	rc := &rawClient{t: t, conn: wire.NewConn(conn), buf: make([]byte, wire.MaxMessage), roots: map[string]uint32{}}
	rep, _ := rc.call(&wire.Request{Op: wire.OpHello, VersionMin: 1, VersionMax: wire.MaxVersion, Requested: rights.All})
	if rep.Err != nil || rep.Version != wire.BatchVersion {
		t.Fatalf("handshake: %+v, version %d", rep.Err, rep.Version)
	}
	for _, r := range rep.Roots {
		rc.roots[r.Name] = r.Handle
	}
	return &batchClient{rawClient: rc}
}

// sendBatch sends reqs in one batch, each with a fresh id (posted ones
// keep id 0), the batch with id; it returns the ids.
func (bc *batchClient) sendBatch(id uint32, reqs ...*wire.Request) []uint32 {
	bc.t.Helper()
	b, start := wire.BeginBatch(nil)
	var ids []uint32
	for _, req := range reqs {
		if req.Flags&wire.FlagNoReply == 0 {
			bc.next++
			req.ID = bc.next
			ids = append(ids, req.ID)
		}
		var err error
		if b, err = wire.AppendRequest(b, req); err != nil {
			bc.t.Fatal(err)
		}
	}
	b, err := wire.EndBatch(b, start, wire.KindRequest, id, len(reqs))
	if err != nil {
		bc.t.Fatal(err)
	}
	if err := bc.conn.Send(b, -1); err != nil {
		bc.t.Fatal(err)
	}
	return ids
}

// replies reads until it has a reply to every id in ids.
func (bc *batchClient) replies(ids ...uint32) map[uint32]wire.Reply {
	bc.t.Helper()
	want := map[uint32]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[uint32]wire.Reply{}
	for len(want) > 0 {
		m, err := bc.conn.Recv(bc.buf)
		if err != nil {
			bc.t.Fatal(err)
		}
		msgs := [][]byte{m.Bytes}
		if wire.IsBatch(m.Bytes) {
			bc.batches++
			if msgs, err = wire.SplitBatch(m.Bytes, nil); err != nil {
				bc.t.Fatalf("reply batch: %v", err)
			}
		}
		for _, msg := range msgs {
			rep, err := wire.ParseReply(msg)
			if err != nil {
				bc.t.Fatalf("reply: %v", err)
			}
			if m.FD >= 0 {
				unix.Close(m.FD)
			}
			if !want[rep.ID] {
				bc.t.Fatalf("unexpected reply %d (%v)", rep.ID, rep.Op)
			}
			delete(want, rep.ID)
			got[rep.ID] = rep
		}
	}
	return got
}

// TestBatchServed: a batch of requests is served as the same requests
// sent one by one would be, each checked on its own (a malformed one, a
// missing file, a missing right, hello again), and their replies come
// back batched; a close inside frees its handle before what follows.
func TestBatchServed(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{Limits: Limits{MaxHandles: 2}})
	bc := batchServed(t, srv, []Grant{{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	root := bc.roots["d"]
	bad := &wire.Request{Op: wire.OpStat, Handle: root, Path: "hello.txt", Resolve: 0x40} // unknown resolve bit
	ids := bc.sendBatch(1,
		&wire.Request{Op: wire.OpStat, Handle: root, Path: "hello.txt", Follow: true},
		&wire.Request{Op: wire.OpStat, Handle: root, Path: "missing"},
		bad,
		&wire.Request{Op: wire.OpOpen, Handle: root, Path: "hello.txt", SysFlags: unix.O_RDWR, Pair: rights.Pair{Base: rights.Read | rights.Write}},
		&wire.Request{Op: wire.OpHello, VersionMin: 1, VersionMax: 2},
		&wire.Request{Op: wire.OpOpen, Handle: root, Path: "hello.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}},
	)
	got := bc.replies(ids...)
	if r := got[ids[0]]; r.Err != nil || r.Stat.Size != int64(len("hello, broker\n")) {
		t.Errorf("stat: %+v, size %d", r.Err, r.Stat.Size)
	}
	if r := got[ids[1]]; r.Err == nil || unix.Errno(r.Err.Errno) != unix.ENOENT {
		t.Errorf("stat of a missing file: %+v", r.Err)
	}
	if r := got[ids[2]]; r.Err == nil || r.Err.Code != wire.CodeProtocol {
		t.Errorf("unknown resolve flag: %+v", r.Err)
	}
	if r := got[ids[3]]; r.Err == nil || r.Err.Code != wire.CodeNotCapable {
		t.Errorf("open for writing with read-only rights: %+v", r.Err)
	}
	if r := got[ids[4]]; r.Err == nil || !strings.Contains(r.Err.Message, "hello again") {
		t.Errorf("hello in a batch: %+v", r.Err)
	}
	file := got[ids[5]]
	if file.Err != nil {
		t.Fatalf("open: %+v", file.Err)
	}
	if bc.batches == 0 {
		t.Error("six replies and not one reply batch")
	}
	// The handle limit is 2: the root and the file. A close in front of
	// an open frees the slot the open needs.
	ids = bc.sendBatch(1,
		&wire.Request{Op: wire.OpClose, Handle: file.NewHandle, Flags: wire.FlagNoReply},
		&wire.Request{Op: wire.OpOpen, Handle: root, Path: "hello.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}},
	)
	if r := bc.replies(ids...)[ids[0]]; r.Err != nil {
		t.Errorf("open after a close in the same batch: %+v", r.Err)
	}
}

// TestBatchRejectedKeepsServing: a batch whose framing is broken is one
// malformed message, answered to the batch's id with a protocol error;
// so is a batch on a connection that negotiated version 1. Either way
// the connection goes on serving.
func TestBatchRejectedKeepsServing(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{})
	grants := []Grant{{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}
	bc := batchServed(t, srv, grants)
	root := bc.roots["d"]
	stat, _ := wire.AppendRequest(nil, &wire.Request{ID: 50, Op: wire.OpStat, Handle: root, Path: "hello.txt"})
	inner, start := wire.BeginBatch(nil)
	inner, _ = wire.EndBatch(append(inner, stat...), start, wire.KindRequest, 50, 1)
	nested, start := wire.BeginBatch(nil)
	nested, _ = wire.EndBatch(append(nested, inner...), start, wire.KindRequest, 9, 1)
	truncated := append([]byte(nil), inner[:len(inner)-3]...)
	truncated[16] -= 3 // the batch's body length, so only the message inside is short
	for _, tc := range []struct {
		name string
		msg  []byte
		id   uint32
		want string
	}{
		{"nested", nested, 9, "is a batch"},
		{"truncated", truncated, 50, "left in the batch"},
	} {
		if err := bc.conn.Send(tc.msg, -1); err != nil {
			t.Fatal(err)
		}
		rep := bc.replies(tc.id)[tc.id]
		if rep.Err == nil || rep.Err.Code != wire.CodeProtocol || !strings.Contains(rep.Err.Message, tc.want) {
			t.Errorf("%s batch: %+v, want a protocol error saying %q", tc.name, rep.Err, tc.want)
		}
		if rep, _ := bc.call(&wire.Request{Op: wire.OpStat, Handle: root, Path: "hello.txt"}); rep.Err != nil {
			t.Fatalf("after a %s batch: %+v", tc.name, rep.Err)
		}
	}

	v1 := rawServed(t, srv, grants)
	if err := v1.conn.Send(inner, -1); err != nil {
		t.Fatal(err)
	}
	rep, _ := v1.recv()
	if rep.Err == nil || rep.ID != 50 || !strings.Contains(rep.Err.Message, "batches need 2") {
		t.Errorf("a batch on a version 1 connection: %+v", rep.Err)
	}
	if rep, _ := v1.call(&wire.Request{Op: wire.OpStat, Handle: v1.roots["d"], Path: "hello.txt"}); rep.Err != nil {
		t.Fatalf("version 1 connection after a batch: %+v", rep.Err)
	}
}

// TestBatchBlockedRequestHandsOnTheRest: the reader and the writer of a
// FIFO opened in one batch. The reader's open blocks until the writer's
// is served; the reading is handed on with the rest of the batch, which
// the next reader serves first, so the two cannot deadlock.
func TestBatchBlockedRequestHandsOnTheRest(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600)
	srv := newServer(t, Config{})
	bc := batchServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadWrite)}})
	root := bc.roots["r"]
	ids := bc.sendBatch(1,
		&wire.Request{Op: wire.OpStat, Handle: root, Path: "f"},
		&wire.Request{Op: wire.OpOpen, Handle: root, Path: "fifo", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}},
		&wire.Request{Op: wire.OpStat, Handle: root, Path: "f"},
		&wire.Request{Op: wire.OpOpen, Handle: root, Path: "fifo", SysFlags: unix.O_WRONLY, Pair: rights.Pair{Base: rights.Write}},
	)
	done := make(chan map[uint32]wire.Reply)
	go func() { done <- bc.replies(ids...) }()
	var got map[uint32]wire.Reply
	testwait.Until(t, "every request of the batch answered (else the FIFO's reader and writer deadlocked)", 10*time.Second, func() bool {
		select {
		case got = <-done:
			return true
		default:
			return false
		}
	})
	for _, id := range ids {
		if r := got[id]; r.Err != nil {
			t.Errorf("request %d (%v): %+v", id, r.Op, r.Err)
		}
	}
}

// TestPostedClosesRideAlong: through capfd.Remote (which batches with a
// version-2 broker), a close goes with the next call, ahead of it, so a
// client at its handle limit can close one file and open the next at
// once; and a close with no call after it still reaches the broker
// (within the client's post delay), freeing the handle.
func TestPostedClosesRideAlong(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{Limits: Limits{MaxHandles: 3}})
	r := served(t, srv, []Grant{{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	d, err := r.Dir("d") // the root and d: two handles
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 100 {
		f, err := d.Open("hello.txt")
		if err != nil {
			t.Fatalf("open %d at the handle limit after a close: %v", i, err)
		}
		f.Close()
	}
	testwait.Until(t, "the last file's handle released without another call", asyncTimeout, func() bool {
		return testutil.ToFloat64(srv.m.handles) == 2
	})
}

// TestPipelinedCallsBatch: many goroutines on one Remote get every reply
// right while their requests and replies travel in batches.
func TestPipelinedCallsBatch(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{})
	r := served(t, srv, []Grant{{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	d, err := r.Dir("d")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 64)
			for i := range 50 {
				name, want := "hello.txt", int64(len("hello, broker\n"))
				if (g+i)%2 == 1 {
					name, want = "sub/inner.txt", int64(len("inner"))
				}
				fi, err := d.Stat(name)
				if err != nil || fi.Size() != want {
					t.Errorf("stat %s: %v, size %v", name, err, fi)
					return
				}
				f, err := d.Open(name)
				if err != nil {
					t.Errorf("open %s: %v", name, err)
					return
				}
				n, err := f.ReadAt(p, 0)
				if int64(n) != want {
					t.Errorf("read %s: %d bytes, %v", name, n, err)
				}
				f.Close()
			}
		}()
	}
	wg.Wait()
	testwait.Until(t, "every file handle released", asyncTimeout, func() bool {
		return testutil.ToFloat64(srv.m.handles) == 2
	})
}
