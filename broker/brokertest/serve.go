package brokertest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// The start-up helpers take the broker's Serve or ServeConn as a function
// (brokertest cannot import package broker: the broker's own tests import
// brokertest). A test that checks what Serve returns, or when, starts it
// itself; these are for tests that only need a broker running.

// Listen listens on a unixpacket socket at path (a fresh temporary
// directory's "broker.sock" if path is empty), runs serve on it on its
// own goroutine, and returns the socket's path and a stop that cancels
// serve's context and waits for it to return. Stop also runs when the
// test ends; an error from serve fails the test. Pass a Server's Serve
// method: brokertest.Listen(t, "", srv.Serve).
func Listen(t testing.TB, path string, serve func(context.Context, *net.UnixListener) error) (sock string, stop func()) {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "broker.sock")
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	return path, run(t, "Serve", func(ctx context.Context) error { return serve(ctx, ln) }, nil)
}

// Pair serves one connection on a fresh socketpair: serveConn gets the
// broker's end (a closure over a Server's ServeConn, with its grants) on
// its own goroutine, and the client's end is returned. Stop closes the
// client's end, cancels serveConn's context and waits for it to return;
// it also runs when the test ends, and an error from serveConn fails the
// test.
func Pair(t testing.TB, serveConn func(context.Context, *net.UnixConn) error) (client *net.UnixConn, stop func()) {
	t.Helper()
	brokerEnd, client := Socketpair(t)
	return client, run(t, "ServeConn", func(ctx context.Context) error { return serveConn(ctx, brokerEnd) }, client)
}

// run runs serve until stop; see Listen and Pair.
func run(t testing.TB, what string, serve func(context.Context) error, client *net.UnixConn) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if client != nil {
				client.Close()
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", what, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Socketpair returns two connected SOCK_SEQPACKET ends, close-on-exec.
// Closing them is the caller's (or what it hands them to): a connection
// may outlive the test that made it, as a fuzz target's does.
func Socketpair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "seqpacket")
		c, err := net.FileConn(f) // dups; f is closed either way
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c.(*net.UnixConn)
	}
	return out[0], out[1]
}
