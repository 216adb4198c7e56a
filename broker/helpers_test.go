package broker

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// asyncTimeout bounds every testwait.Until in this package: the broker
// serves on its own goroutines, so a test waits for a state it exposes
// (a gauge, a counter); the bound only turns a hang into a failure, it
// is no part of what is tested.
const asyncTimeout = 20 * time.Second

// testTree makes a small directory tree and returns its path.
func testTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, broker\n"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "inner.txt"), []byte("inner"), 0o644))
	must(os.Symlink("hello.txt", filepath.Join(dir, "link")))
	return dir
}

// served starts srv on one end of a socketpair with grants and returns a
// Remote on the other end. Everything is torn down at the end of the test.
func served(t testing.TB, srv *Server, grants []Grant) *capfd.Remote {
	t.Helper()
	conn, _ := brokertest.Pair(t, func(ctx context.Context, c *net.UnixConn) error { return srv.ServeConn(ctx, c, grants) })
	r, err := capfd.NewRemote(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// waitBlocked waits until a request of srv's clients is blocked in the
// broker: the watchdog found it still in its system call and handed the
// reading on (the blocking gauge). A request merely in flight is not
// enough: the in-flight gauge still counts the previous request for a
// moment after its reply has been sent.
func waitBlocked(t testing.TB, srv *Server, what string) {
	t.Helper()
	testwait.Until(t, what+" blocked in the broker", asyncTimeout, func() bool { return testutil.ToFloat64(srv.m.blocking) >= 1 })
}
