package broker

import (
	"testing"
	"time"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"golang.org/x/sys/unix"
)

// TestHandshakeTimeout: a connection that says nothing is told, once
// Config.HandshakeTimeout has passed, that it sent no hello in time, and
// closed; meanwhile it held no slot, so the one client the broker may
// serve is served beside it and still is after it is gone.
func TestHandshakeTimeout(t *testing.T) {
	dir := testTree(t)
	_, path := servedOneSlot(t, Config{HandshakeTimeout: 100 * time.Millisecond}, "d", dir)

	silent := rawDial(t, path)
	r, err := capfd.Dial(path)
	if err != nil {
		t.Fatalf("the one client beside a silent connection: %v", err)
	}
	defer r.Close()
	d, err := r.Dir("d")
	if err != nil {
		t.Fatal(err)
	}
	wantGoodbye(t, silent, "the silent connection", wire.CodeProtocol, unix.EINVAL, "no hello within 100ms (the handshake timeout)")
	if _, err := d.Stat("hello.txt"); err != nil {
		t.Errorf("the served client after the silent one was dropped: %v", err)
	}
}

// TestHandshakeTimeoutDefault: zero (or less) is the 10 s default.
func TestHandshakeTimeoutDefault(t *testing.T) {
	tests := []struct {
		set, want time.Duration
	}{
		{0, DefaultHandshakeTimeout},
		{-time.Second, DefaultHandshakeTimeout},
		{250 * time.Millisecond, 250 * time.Millisecond},
	}
	if DefaultHandshakeTimeout != 10*time.Second {
		t.Errorf("DefaultHandshakeTimeout %v, want 10s", DefaultHandshakeTimeout)
	}
	for _, tc := range tests {
		if got := newServer(t, Config{HandshakeTimeout: tc.set}).cfg.HandshakeTimeout; got != tc.want {
			t.Errorf("HandshakeTimeout %v: in force %v, want %v", tc.set, got, tc.want)
		}
	}
}
