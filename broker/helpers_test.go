package broker

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capfd/capfd/capfd"
	"golang.org/x/sys/unix"
)

// asyncTimeout bounds every testwait.Until in this package: the broker
// serves on its own goroutines, so a test waits for a state it exposes
// (a gauge, a counter); the bound only turns a hang into a failure, it
// is no part of what is tested.
const asyncTimeout = 20 * time.Second

// socketpair returns two connected SOCK_SEQPACKET ends.
func socketpair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "seqpacket")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c.(*net.UnixConn)
	}
	return out[0], out[1]
}

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
	a, b := socketpair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(ctx, a, grants) }()
	r, err := capfd.NewRemote(b)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeConn: %v", err)
		}
	})
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
