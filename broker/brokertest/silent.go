package brokertest

import (
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
)

// Silent listens on a fresh socket and returns its path: a broker that
// accepts every connection, runs greet on it (nil: nothing) and then
// never answers, for the tests of a client's timeouts. The connections
// stay open until the test ends.
func Silent(t testing.TB, greet func(*net.UnixConn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []*net.UnixConn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if greet != nil {
				greet(c)
			}
		}
	}()
	return path
}

// HelloOnly answers the hello on c, granting one read-only directory
// "data" (handle 1), as Silent's greet: a broker that stops answering
// after the handshake.
func HelloOnly(c *net.UnixConn) {
	conn := wire.NewConn(c)
	buf := make([]byte, wire.MaxMessage)
	req, err := conn.RecvRequest(buf)
	if err != nil {
		return
	}
	msg, err := wire.AppendReply(nil, &wire.Reply{ID: req.ID, Op: wire.OpHello, Version: wire.MaxVersion,
		Limits: wire.Limits{MaxInflight: 4, MaxMessage: wire.MaxMessage},
		Roots:  []wire.Root{{Name: "data", Handle: 1, Rights: rights.Uniform(rights.ReadOnly)}}}, false)
	if err == nil {
		conn.Send(msg, -1)
	}
}
