package broker

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// heldLock takes an exclusive flock on path, so that a broker's LOCK_EX
// request on the same file blocks until the returned unlock is called.
func heldLock(t *testing.T, path string) (unlock func()) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once bool
	unlock = func() {
		if !once {
			once = true
			unix.Close(fd)
		}
	}
	t.Cleanup(unlock)
	return unlock
}

func lockTree(t *testing.T) string {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
	}
	return dir
}

// TestPipeliningOutOfOrder sends a request that blocks (a lock held by the
// test) and many quick ones behind it on the same connection, without
// reading: the quick replies come back first, each matched by id, and the
// blocked one last, once the lock is released.
func TestPipeliningOutOfOrder(t *testing.T) {
	dir := lockTree(t)
	unlock := heldLock(t, filepath.Join(dir, "a"))
	srv := newServer(t, Config{})
	rc := rawServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	root := rc.roots["r"]
	h := rc.open(root, "a", unix.O_RDONLY, rights.Read|rights.Lock)

	lockID := rc.send(&wire.Request{Op: wire.OpLock, Handle: h, SysFlags: unix.LOCK_EX})
	const n = 48
	want := map[uint32]string{}
	for i := range n {
		name := []string{"a", "b", "c"}[i%3]
		want[rc.send(&wire.Request{Op: wire.OpStat, Handle: root, Path: name, Follow: true})] = name
	}
	for range n {
		rep, _ := rc.recv()
		name, ok := want[rep.ID]
		if !ok {
			t.Fatalf("reply %d (%v) before the quick ones were all answered, or answered twice", rep.ID, rep.Op)
		}
		delete(want, rep.ID)
		if rep.Err != nil || rep.Stat.Size != 1 {
			t.Errorf("stat %s: %+v %+v", name, rep.Err, rep.Stat)
		}
	}
	unlock()
	rep, _ := rc.recv()
	if rep.ID != lockID || rep.Err != nil {
		t.Fatalf("last reply %d (%+v), want the lock %d", rep.ID, rep.Err, lockID)
	}
}

func TestLimitInflight(t *testing.T) {
	dir := lockTree(t)
	unlockA := heldLock(t, filepath.Join(dir, "a"))
	unlockB := heldLock(t, filepath.Join(dir, "b"))
	srv := newServer(t, Config{Limits: Limits{MaxInflight: 2}})
	rc := rawServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	root := rc.roots["r"]
	ha := rc.open(root, "a", unix.O_RDONLY, rights.Read|rights.Lock)
	hb := rc.open(root, "b", unix.O_RDONLY, rights.Read|rights.Lock)
	rc.send(&wire.Request{Op: wire.OpLock, Handle: ha, SysFlags: unix.LOCK_EX})
	rc.send(&wire.Request{Op: wire.OpLock, Handle: hb, SysFlags: unix.LOCK_EX})
	rep, _ := rc.call(&wire.Request{Op: wire.OpStat, Handle: root, Path: "c"})
	if rep.Err == nil || rep.Err.Code != wire.CodeLimit || !strings.Contains(rep.Err.Message, "in flight") {
		t.Fatalf("third request with two in flight: %+v, want a limit error", rep.Err)
	}
	unlockA()
	unlockB()
	for range 2 {
		if rep, _ := rc.recv(); rep.Err != nil {
			t.Fatalf("lock: %+v", rep.Err)
		}
	}
	if rep, _ := rc.call(&wire.Request{Op: wire.OpStat, Handle: root, Path: "c"}); rep.Err != nil {
		t.Fatalf("after the limit cleared: %+v", rep.Err)
	}
	if got := testutil.ToFloat64(srv.m.ops.WithLabelValues("stat", resultLimit)); got != 1 {
		t.Errorf("limit counter %v, want 1", got)
	}
}

func TestLimitHandles(t *testing.T) {
	dir := lockTree(t)
	srv := newServer(t, Config{Limits: Limits{MaxHandles: 3}})
	rc := rawServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	root := rc.roots["r"]
	h1 := rc.open(root, "a", unix.O_RDONLY, rights.Read)
	rc.open(root, "b", unix.O_RDONLY, rights.Read)
	rep, _ := rc.call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "c", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
	if rep.Err == nil || rep.Err.Code != wire.CodeLimit || rep.Err.Errno != uint32(unix.EMFILE) {
		t.Fatalf("fourth handle: %+v, want EMFILE limit", rep.Err)
	}
	rc.call(&wire.Request{Op: wire.OpClose, Handle: h1})
	rc.open(root, "c", unix.O_RDONLY, rights.Read)
	if got := testutil.ToFloat64(srv.m.handles); got != 3 {
		t.Errorf("handles gauge %v, want 3", got)
	}
}

// openUnder counts the descriptors open in this process (openFDs) on dir
// or anything beneath it. Counting only those, not every open one (other
// goroutines open and close theirs), cannot race.
func openUnder(t testing.TB, dir string) int {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir) // as the links below name it
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range openFDs(t) {
		// An fd closed since the listing fails here and is not counted;
		// one reused meanwhile is counted for what it is now.
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err == nil && (target == dir || strings.HasPrefix(target, dir+"/")) {
			n++
		}
	}
	return n
}

// TestMalformedMessages sends the broker garbage, with descriptors attached,
// and oversized messages: each gets a clear error reply (routed to its
// request id when the header was readable), no descriptor that came with
// them stays open in the broker (here, this process), and the connection
// keeps working. The descriptors sent are of a file of their own, so that
// what is left of them can be counted.
func TestMalformedMessages(t *testing.T) {
	dir := lockTree(t)
	srv := newServer(t, Config{Limits: Limits{MaxMessage: 4096}})
	rc := rawServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	root := rc.roots["r"]
	rc.call(&wire.Request{Op: wire.OpStat, Handle: root, Path: "a"}) // warm up

	raw, err := rc.conn.UnixConn().SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	passedDir := t.TempDir()
	passed := filepath.Join(passedDir, "passed")
	if err := os.WriteFile(passed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sendRaw := func(msg []byte, nfds int) {
		var fds []int
		for range nfds {
			fd, err := unix.Open(passed, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			fds = append(fds, fd)
		}
		var oob []byte
		if nfds > 0 {
			oob = unix.UnixRights(fds...)
		}
		var serr error
		raw.Write(func(s uintptr) bool { serr = unix.Sendmsg(int(s), msg, oob, nil, 0); return true })
		for _, fd := range fds {
			unix.Close(fd)
		}
		if serr != nil {
			t.Fatal(serr)
		}
	}
	// The count sees a descriptor of the file (the test's own, here).
	if fd, err := unix.Open(passed, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	} else if n := openUnder(t, passedDir); n != 1 {
		t.Fatalf("%d descriptors of %s counted, want the 1 open", n, passed)
	} else {
		unix.Close(fd)
	}
	stat, _ := wire.AppendRequest(nil, &wire.Request{ID: 900, Op: wire.OpStat, Handle: root, Path: "a"})
	big, _ := wire.AppendRequest(nil, &wire.Request{ID: 901, Op: wire.OpWrite, Handle: root, Data: make([]byte, 8000)})
	tests := []struct {
		name   string
		msg    []byte
		fds    int
		wantID uint32
		want   string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), 0, 0, "shorter than"},
		{"garbage, header-sized", []byte("GET /index.html HTTP/1.1\r\n\r\n"), 0, 0, "bad magic"},
		{"garbage with descriptors", []byte{0xfd, 0xca, 1, 1}, 3, 0, "descriptors"},
		{"valid request with a descriptor", stat, 1, 900, "descriptor"},
		{"oversized", big, 0, 901, "larger than"},
		{"oversized with a descriptor", big, 1, 901, "larger than"},
		{"unknown op", func() []byte { m := append([]byte(nil), stat...); m[4] = 0xee; return m }(), 0, 900, "unknown op"},
	}
	for _, tc := range tests {
		sendRaw(tc.msg, tc.fds)
		rep, fd := rc.recv()
		if fd >= 0 {
			t.Fatalf("%s: error reply carried a descriptor", tc.name)
		}
		if rep.Err == nil || rep.Err.Code != wire.CodeProtocol || !strings.Contains(rep.Err.Message, tc.want) {
			t.Errorf("%s: reply %+v, want a protocol error mentioning %q", tc.name, rep.Err, tc.want)
		}
		if rep.ID != tc.wantID {
			t.Errorf("%s: reply to id %d, want %d", tc.name, rep.ID, tc.wantID)
		}
		// The broker dropped what came with the message before it replied.
		if n := openUnder(t, passedDir); n != 0 {
			t.Errorf("%s: %d descriptors of the file passed still open after the reply (%d sent with it)", tc.name, n, tc.fds)
		}
	}
	if rep, _ := rc.call(&wire.Request{Op: wire.OpStat, Handle: root, Path: "a"}); rep.Err != nil {
		t.Fatalf("connection unusable after garbage: %+v", rep.Err)
	}
	if got := testutil.ToFloat64(srv.m.malformed); got != float64(len(tests)) {
		t.Errorf("malformed counter %v, want %d", got, len(tests))
	}
}

// TestDisconnectFreesHandles checks that a client going away, with handles
// open and a request in flight, releases everything it held.
func TestDisconnectFreesHandles(t *testing.T) {
	dir := lockTree(t)
	unlock := heldLock(t, filepath.Join(dir, "a"))
	srv := newServer(t, Config{})
	a, b := brokertest.Socketpair(t)
	done := make(chan error, 1)
	go func() {
		done <- srv.ServeConn(t.Context(), a, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	}()
	rc := newRawClient(t, b)
	root := rc.roots["r"]
	var last uint32
	for range 10 {
		last = rc.open(root, "b", unix.O_RDONLY, rights.Read|rights.Lock)
	}
	blocked := rc.open(root, "a", unix.O_RDONLY, rights.Read|rights.Lock)
	rc.send(&wire.Request{Op: wire.OpLock, Handle: last, SysFlags: unix.LOCK_EX})
	rc.send(&wire.Request{Op: wire.OpLock, Handle: blocked, SysFlags: unix.LOCK_EX})
	if got := testutil.ToFloat64(srv.m.handles); got != 12 {
		t.Fatalf("handles gauge %v, want 12", got)
	}
	// The count below sees the handles: each is a descriptor of the tree.
	if n := openUnder(t, dir); n < 12 {
		t.Fatalf("%d descriptors of the served tree open, want at least the 12 handles", n)
	}
	rc.conn.Close()
	unlock() // the blocked request finishes; its reply has nowhere to go
	if err := testwait.Recv(t, "ServeConn to return after the client left", 10*time.Second, done); err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
	if got := testutil.ToFloat64(srv.m.handles); got != 0 {
		t.Errorf("handles gauge %v after disconnect, want 0", got)
	}
	if got := testutil.ToFloat64(srv.m.clients); got != 0 {
		t.Errorf("clients gauge %v after disconnect, want 0", got)
	}
	// Its handles were descriptors of the tree, and the test's lock is
	// released: none is left.
	if n := openUnder(t, dir); n != 0 {
		t.Errorf("%d descriptors of the served tree still open after the client left", n)
	}
}

// TestBlockedRequestDoesNotStallConnection opens a FIFO for reading (which
// blocks until a writer comes) and then for writing on the same
// connection: the broker serves requests inline, and must hand the reading
// on when one blocks, or the writer's open would never be read and the two
// would wait for each other forever.
func TestBlockedRequestDoesNotStallConnection(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, Config{})
	rc := rawServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadWrite)}})
	root := rc.roots["r"]
	readerID := rc.send(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "fifo", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
	writerID := rc.send(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "fifo", SysFlags: unix.O_WRONLY, Pair: rights.Pair{Base: rights.Write}})
	got := map[uint32]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 {
			rep, _ := rc.recv()
			if rep.Err != nil {
				t.Errorf("open %d: %+v", rep.ID, *rep.Err)
			}
			got[rep.ID] = true
		}
	}()
	testwait.Recv(t, "both FIFO opens answered (else the reader and writer deadlocked the connection)", 10*time.Second, done)
	if !got[readerID] || !got[writerID] {
		t.Errorf("replies %v, want %d and %d", got, readerID, writerID)
	}
}
