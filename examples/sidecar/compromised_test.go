package main

import (
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/rights"
)

// envCompromised makes TestCompromisedReaderChild run: it is the body of a
// child process started by runCompromisedReader, as nobody.
const envCompromised = "SIDECAR_COMPROMISED_SOCKET"

// runCompromisedReader runs TestCompromisedReaderChild as nobody against
// the sidecar, in the copy of the test binary nobody may execute, and
// fails t unless the child test ran and passed.
func (s sidecar) runCompromisedReader(t *testing.T) {
	t.Helper()
	childtest.Child{
		Test:        "TestCompromisedReaderChild",
		Env:         []string{envCompromised + "=" + s.socket},
		Exe:         s.clientExe,
		Dir:         "/",
		SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}},
	}.Pass(t)
}

// TestCompromisedReaderChild is a reader whose process is compromised: it
// skips capfd's client-side checks and sends the broker raw requests on the
// handle the broker gave it, claiming whatever rights it likes. The broker
// checks again on its side and refuses each one; a descriptor it passes
// for reading cannot be written through.
func TestCompromisedReaderChild(t *testing.T) {
	socket := os.Getenv(envCompromised)
	if socket == "" {
		t.Skip("the body of the compromised reader; runs only in the child TestTwoClientsTwoPolicies starts")
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	rc := brokertest.NewRawClient(t, conn)
	root, ok := rc.Roots["shared"]
	if !ok {
		t.Fatalf("no shared root in %v", rc.Roots)
	}
	attempts := []struct {
		name string
		req  *wire.Request
	}{
		{"create a file", &wire.Request{Op: wire.OpOpen, Handle: root, Path: "evil.txt",
			SysFlags: unix.O_WRONLY | unix.O_CREAT, Mode: 0o644, Pair: rights.Pair{Base: rights.Write}}},
		{"open read-write", &wire.Request{Op: wire.OpOpen, Handle: root, Path: "hello.txt",
			SysFlags: unix.O_RDWR, Pair: rights.Pair{Base: rights.Read | rights.Write}}},
		{"truncate", &wire.Request{Op: wire.OpTruncate, Handle: root, Path: "hello.txt"}},
		{"unlink", &wire.Request{Op: wire.OpUnlink, Handle: root, Path: "hello.txt"}},
		{"widen its handle", &wire.Request{Op: wire.OpDup, Handle: root, Pair: rights.Uniform(rights.All)}},
	}
	for _, a := range attempts {
		rep, fd := rc.Call(a.req)
		if fd >= 0 {
			unix.Close(fd)
		}
		if rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
			t.Errorf("%s: %+v, want not capable", a.name, rep.Err)
		}
	}

	// A descriptor the broker passes comes in the access mode the rights
	// allow: read-only, so writing through it fails in the kernel.
	rep, fd := rc.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "hello.txt", Flags: wire.FlagWantFD,
		SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
	if rep.Err != nil || fd < 0 {
		t.Fatalf("open for reading with its descriptor: %+v, fd %d", rep.Err, fd)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("FORGED")); err != unix.EBADF {
		t.Errorf("write through the passed descriptor: %v, want EBADF", err)
	}
}
