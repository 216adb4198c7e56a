package broker_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/capfd/capfd/capfd"
	"golang.org/x/sys/unix"
)

// runRole runs this test binary as a helper process: a client to be killed
// mid-request, or a bare SEQPACKET echo server for the benchmarks' baseline.
func runRole(role string) int {
	socket := os.Getenv("CAPFD_E2E_SOCKET")
	switch role {
	case "client-hold":
		return clientHold(socket)
	case "client-exec":
		return clientExec(socket)
	case "client-roots":
		return clientRoots(socket)
	case "echo":
		return echoServer(socket, os.Getenv("CAPFD_E2E_FD") == "1")
	}
	fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
	return 2
}

// clientHold opens handles, tells the test it is ready, and blocks in a
// lock request the test holds the other side of, until it is killed.
func clientHold(socket string) int {
	r, err := capfd.Dial(socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := r.Dir("data")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var f *capfd.File
	for range 20 {
		if f, err = d.Open("hello.txt"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("ready")
	f.Lock(true) // blocks: the test holds the lock until after it kills us
	fmt.Println("lock returned")
	return 0
}

// clientExec runs /usr/bin/echo through the broker: the binary is opened
// through the "bin" grant and executed from the descriptor the broker
// passes (execveat), never by path.
func clientExec(socket string) int {
	r, err := capfd.Dial(socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := r.Dir("bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := d.Open("echo")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = f.Exec([]string{"echo", "executed through the broker"}, []string{"PATH=/nonexistent"})
	fmt.Fprintln(os.Stderr, "exec:", err)
	if errors.Is(err, capfd.ErrNotCapable) {
		return 3
	}
	return 1
}

// echoServer answers every message with the same bytes, and, with withFD,
// a descriptor attached: the cost of a SEQPACKET round trip between two
// processes, with nothing else.
func echoServer(socket string, withFD bool) int {
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var oob []byte
	if withFD {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 1
		}
		oob = unix.UnixRights(fd)
	}
	fmt.Println("ready")
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return 0
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 1<<17)
			for {
				n, _, _, _, err := c.ReadMsgUnix(buf, nil)
				if err != nil || n == 0 {
					return
				}
				// "SZ" and a little-endian uint32 asks for a reply of
				// that size (a read's reply is larger than its request).
				reply := buf[:n]
				if n >= 6 && buf[0] == 'S' && buf[1] == 'Z' {
					if size := int(binary.LittleEndian.Uint32(buf[2:])); size <= len(buf) {
						reply = buf[:size]
					}
				}
				if _, _, err := c.WriteMsgUnix(reply, oob, nil); err != nil {
					return
				}
			}
		}()
	}
}

// clientRoots connects and prints the roots it is granted, one a line.
func clientRoots(socket string) int {
	r, err := capfd.Dial(socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	for _, root := range r.Roots() {
		fmt.Println(root)
	}
	return 0
}
