package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

func TestRemoteFSConformance(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) { testRemoteFS(t, direct) })
	}
}

func testRemoteFS(t *testing.T, direct bool) {
	dir := testTree(t)
	srv := newServer(t, Config{})
	r := served(t, srv, []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	r.SetDirectIO(direct)
	if got := r.Roots(); len(got) != 1 || got[0] != "data" {
		t.Fatalf("roots %v", got)
	}
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := fstest.TestFS(d.FS(), "hello.txt", "sub/inner.txt"); err != nil {
		t.Fatal(err)
	}
	data, err := d.ReadFile("hello.txt")
	if err != nil || string(data) != "hello, broker\n" {
		t.Fatalf("ReadFile: %q, %v", data, err)
	}
	if _, err := d.Create("new.txt"); !errors.Is(err, capfd.ErrNotCapable) {
		t.Errorf("Create through a read-only grant: %v, want ErrNotCapable", err)
	}
	if _, err := d.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing): %v, want ErrNotExist", err)
	}
	if _, err := d.Open("../etc/passwd"); !errors.Is(err, capfd.ErrEscape) {
		t.Errorf("Open(../etc/passwd): %v, want ErrEscape", err)
	}
	// With direct I/O the reads above went to the kernel, not the broker.
	reads := testutil.ToFloat64(srv.m.ops.WithLabelValues("read", resultOK)) + testutil.ToFloat64(srv.m.ops.WithLabelValues("pread", resultOK))
	if direct && reads != 0 || !direct && reads == 0 {
		t.Errorf("direct=%v: the broker served %v reads", direct, reads)
	}
}

// TestDirectIOWrites checks direct I/O on a read-write grant: writes land
// in the file through the passed descriptor, and a file opened read-only
// there still cannot be written through it.
func TestDirectIOWrites(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{})
	r := served(t, srv, []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadWrite)}})
	r.SetDirectIO(true)
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WriteFile("new.txt", []byte("direct"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "new.txt")); string(data) != "direct" {
		t.Errorf("file holds %q", data)
	}
	f, err := d.Open("new.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("write to a file opened read-only succeeded")
	}
	if got := testutil.ToFloat64(srv.m.ops.WithLabelValues("write", resultOK)); got != 0 {
		t.Errorf("the broker served %v writes with direct I/O on", got)
	}
}

// TestFromEnv connects through a socket named by CAPFD_BROKER_FD, as a
// program started by the launcher does, and checks the variable is gone
// afterwards (so the program's own children do not inherit it by accident).
func TestFromEnv(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{})
	a, b := brokertest.Socketpair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeConn(ctx, a, []Grant{{Name: "data", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	// A raw descriptor, as a launcher leaves one: FromEnv takes it over
	// (and closes it), so no *os.File of ours may own the same number.
	raw, err := b.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	inherited := -1
	raw.Control(func(fd uintptr) { inherited, err = unix.Dup(int(fd)) })
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	t.Setenv(capfd.EnvBrokerFD, strconv.Itoa(inherited))
	r, err := capfd.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, set := os.LookupEnv(capfd.EnvBrokerFD); set {
		t.Error("FromEnv left the variable set")
	}
	d, err := r.Dir("data")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if data, err := d.ReadFile("sub/inner.txt"); err != nil || string(data) != "inner" {
		t.Fatalf("ReadFile: %q %v", data, err)
	}

	for _, v := range []string{"", "x", "-1", "1000000"} {
		t.Setenv(capfd.EnvBrokerFD, v)
		if r, err := capfd.FromEnv(); err == nil {
			r.Close()
			t.Errorf("FromEnv with %s=%q succeeded", capfd.EnvBrokerFD, v)
		}
	}
}

// TestBrokerGoneFailsCalls checks that when the broker goes away, calls in
// flight and later calls fail with an error instead of hanging.
func TestBrokerGoneFailsCalls(t *testing.T) {
	dir := lockTree(t)
	unlock := heldLock(t, filepath.Join(dir, "a"))
	defer unlock()
	srv := newServer(t, Config{})
	a, b := brokertest.Socketpair(t)
	go srv.ServeConn(context.Background(), a, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}})
	r, err := capfd.NewRemote(b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := r.Dir("r")
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	locked := make(chan error, 1)
	go func() { locked <- f.Lock(true) }() // blocks: the test holds the lock
	waitBlocked(t, srv, "the lock call in the broker")
	a.Close() // the broker's end goes away
	if err := testwait.Recv(t, "the call in flight to end after the broker went away", 10*time.Second, locked); err == nil {
		t.Fatal("a call in flight succeeded after the broker went away")
	}
	if _, err := d.Stat("a"); err == nil {
		t.Fatal("a call after the broker went away succeeded")
	}
}
