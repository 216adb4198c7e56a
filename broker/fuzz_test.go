package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// fuzzConn is one broker connection shared by a fuzz run's inputs (a
// broker per input would make the fuzzer crawl); it is replaced when the
// broker hangs up on it, which it may do after a run of garbage.
type fuzzConn struct {
	mu   sync.Mutex
	srv  *Server
	dir  string
	rc   *rawClient
	root uint32
	v2   bool // the connection speaks protocol version 2 (batches)
}

func (fc *fuzzConn) get(t *testing.T) *rawClient {
	if fc.rc == nil {
		a, b := brokertest.Socketpair(t)
		go fc.srv.ServeConn(context.Background(), a, []Grant{{Name: "r", Path: fc.dir, Rights: rights.Uniform(rights.ReadOnly)}})
		if fc.v2 {
			rc := &rawClient{t: t, conn: wire.NewConn(b), buf: make([]byte, wire.MaxMessage), roots: map[string]uint32{}}
			rep, _ := rc.call(&wire.Request{Op: wire.OpHello, VersionMin: 1, VersionMax: wire.BatchVersion, Requested: rights.All})
			if rep.Err != nil {
				t.Fatalf("handshake: %+v", rep.Err)
			}
			for _, r := range rep.Roots {
				rc.roots[r.Name] = r.Handle
			}
			fc.rc = rc
		} else {
			fc.rc = newRawClient(t, b)
		}
		fc.root = fc.rc.roots["r"]
	}
	return fc.rc
}

// fuzzSeeds are well-formed requests of several ops for FuzzServe and
// FuzzServeBatch to start from.
var fuzzSeeds = []wire.Request{
	{ID: 1, Op: wire.OpStat, Handle: 1, Path: "hello.txt", Follow: true},
	{ID: 2, Op: wire.OpOpen, Handle: 1, Path: "sub/inner.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}},
	{ID: 3, Op: wire.OpRead, Handle: 2, Count: 64},
	{ID: 4, Op: wire.OpReadlink, Handle: 1, Path: "link"},
	{ID: 5, Op: wire.OpMkdir, Handle: 1, Path: "x", Mode: 0o755},
	{ID: 6, Op: wire.OpDup, Handle: 1, Pair: rights.Uniform(rights.All)},
	{ID: 7, Op: wire.OpClose, Handle: 3},
	{ID: 8, Op: wire.OpReopen, Handle: 1, SysFlags: unix.O_RDONLY | unix.O_DIRECTORY, Pair: rights.Pair{Base: rights.Readdir}, Flags: wire.FlagWantFD},
}

// FuzzServe sends arbitrary bytes to a live broker connection, then a
// well-formed stat: the broker must answer the stat (it neither crashed
// nor wedged), whatever came before. Only a read-only tree is granted, so
// whatever the inputs ask for, the tree stays as it is.
func FuzzServe(f *testing.F) {
	dir := testTree(f)
	fc := &fuzzConn{srv: newServer(f, Config{Limits: Limits{MaxInflight: 8}}), dir: dir}
	for _, req := range fuzzSeeds {
		msg, err := wire.AppendRequest(nil, &req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	f.Add([]byte("garbage"))
	f.Fuzz(fc.run)
}

// FuzzServeBatch is FuzzServe on a connection of protocol version 2,
// seeded with batches: whatever a batch holds, the broker answers the
// stat after it.
func FuzzServeBatch(f *testing.F) {
	dir := testTree(f)
	fc := &fuzzConn{srv: newServer(f, Config{Limits: Limits{MaxInflight: 8}}), dir: dir, v2: true}
	batch := func(id uint32, reqs ...wire.Request) []byte {
		b, start := wire.BeginBatch(nil)
		for _, r := range reqs {
			var err error
			if b, err = wire.AppendRequest(b, &r); err != nil {
				f.Fatal(err)
			}
		}
		b, err := wire.EndBatch(b, start, wire.KindRequest, id, len(reqs))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(batch(1, fuzzSeeds...))
	f.Add(batch(2, fuzzSeeds[1], wire.Request{Op: wire.OpClose, Handle: 2, Flags: wire.FlagNoReply}, fuzzSeeds[0]))
	f.Add(batch(0, fuzzSeeds[6]))
	single, _ := wire.AppendRequest(nil, &fuzzSeeds[0])
	f.Add(single)
	f.Fuzz(fc.run)
}

// run sends msg on the shared connection, then a stat, and fails unless
// the stat is answered (reply batches split).
func (fc *fuzzConn) run(t *testing.T, msg []byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	rc := fc.get(t)
	rc.t = t
	if len(msg) > wire.MaxMessage {
		msg = msg[:wire.MaxMessage]
	}
	if _, _, err := rc.conn.UnixConn().WriteMsgUnix(msg, nil, nil); err != nil {
		rc.conn.Close() // the broker hung up (too much garbage); next input reconnects
		fc.rc = nil
		return
	}
	probe, _ := wire.AppendRequest(nil, &wire.Request{ID: 0xfffffff0, Op: wire.OpStat, Handle: fc.root, Path: "hello.txt"})
	if _, _, err := rc.conn.UnixConn().WriteMsgUnix(probe, nil, nil); err != nil {
		rc.conn.Close()
		fc.rc = nil
		return
	}
	rc.conn.UnixConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	defer rc.conn.UnixConn().SetReadDeadline(time.Time{})
	for {
		m, err := rc.conn.Recv(rc.buf)
		if m.FD >= 0 {
			unix.Close(m.FD)
		}
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("the broker did not answer a stat after input %x", msg)
			}
			rc.conn.Close() // hung up on us: allowed after repeated garbage
			fc.rc = nil
			return
		}
		msgs := [][]byte{m.Bytes}
		if fc.v2 && wire.IsBatch(m.Bytes) {
			if msgs, err = wire.SplitBatch(m.Bytes, nil); err != nil {
				t.Fatalf("the broker sent a bad reply batch: %v", err)
			}
		}
		for _, b := range msgs {
			rep, err := wire.ParseReply(b)
			if err != nil {
				t.Fatalf("the broker sent a bad reply: %v", err)
			}
			if rep.ID == 0xfffffff0 && rep.Op == wire.OpStat {
				// Answered: the broker is alive. An input may have closed
				// the root handle (then the stat says so): start afresh.
				if rep.Err != nil && rep.Err.Code == wire.CodeBadHandle {
					rc.conn.Close()
					fc.rc = nil
				}
				return
			}
		}
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	for e := err; e != nil; {
		if te, ok := e.(timeout); ok && te.Timeout() {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
