package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// TestIdleTimeout: a client that says hello and then nothing is told it
// was idle and disconnected, and its slot is free again for the next
// client; a client waiting on a blocked request is not idle.
func TestIdleTimeout(t *testing.T) {
	dir := lockTree(t)
	srv, path := servedOneSlot(t, Config{IdleTimeout: 20 * time.Millisecond}, "r", dir)

	idle := rawDial(t, path)
	newRawClient(t, idle)
	wantGoodbye(t, idle, "the idle client", wire.CodeLimit, unix.ETIMEDOUT, "no request for 20ms (the idle timeout)")

	// The only slot is free again; this client waits on a lock, longer
	// than the idle timeout (the check has found it busy three times).
	unlock := heldLock(t, filepath.Join(dir, "a"))
	rc := newRawClient(t, rawDial(t, path))
	h := rc.open(rc.roots["r"], "a", unix.O_RDONLY, rights.Read|rights.Lock)
	lockID := rc.send(&wire.Request{Op: wire.OpLock, Handle: h, SysFlags: unix.LOCK_EX})
	before := srv.idleDeferred.Load()
	testwait.Until(t, "three idle checks while the lock is awaited", asyncTimeout, func() bool { return srv.idleDeferred.Load() >= before+3 })
	unlock()
	if rep, _ := rc.recv(); rep.ID != lockID || rep.Err != nil {
		t.Fatalf("the lock after a long wait: %+v, want its reply", rep)
	}
	if rep, _ := rc.call(&wire.Request{Op: wire.OpStat, Handle: rc.roots["r"], Path: "b"}); rep.Err != nil {
		t.Fatalf("the waiting client was disconnected: %+v", rep.Err)
	}
}

// TestIdleTimeoutConfig: the file's idle_timeout and its defaults.
func TestIdleTimeoutConfig(t *testing.T) {
	tests := []struct {
		text    string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"0", NoIdleTimeout, false},
		{"90s", 90 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"-1s", 0, true},
		{"soon", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseIdleTimeout(tc.text)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseIdleTimeout(%q) = %v, %v; want %v, error %v", tc.text, got, err, tc.want, tc.wantErr)
		}
		_, err = ParseFile([]byte("socket: /x\nidle_timeout: \"" + tc.text + "\"\n"))
		if (err != nil) != tc.wantErr {
			t.Errorf("idle_timeout %q in a file: %v", tc.text, err)
		}
	}
	if srv := newServer(t, Config{}); srv.cfg.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("default idle timeout %v, want %v", srv.cfg.IdleTimeout, DefaultIdleTimeout)
	}
}

// TestGoodbyes: the broker's other reasons to close a connection are told
// to the client first: shutdown, and too many malformed messages.
func TestGoodbyes(t *testing.T) {
	dir := testTree(t)
	grants := []Grant{{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)}}

	t.Run("shutdown", func(t *testing.T) {
		srv := newServer(t, Config{Policy: allRule(grants...)})
		ln, path := listen(t)
		ctx, cancel := contextWithCancel()
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		uc := rawDial(t, path)
		newRawClient(t, uc)
		cancel()
		wantGoodbye(t, uc, "a client at shutdown", wire.CodeShutdown, unix.ESHUTDOWN, "broker shutting down")
		<-done
	})
	t.Run("malformed messages", func(t *testing.T) {
		srv := newServer(t, Config{})
		a, b := brokertest.Socketpair(t)
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(t.Context(), a, grants) }()
		rc := newRawClient(t, b)
		for range maxProtocolErrors {
			rc.conn.Send([]byte("garbage"), -1)
			if rep, _ := rc.recv(); rep.Err == nil || rep.Err.Code != wire.CodeProtocol {
				t.Fatalf("garbage answered %+v", rep)
			}
		}
		wantGoodbye(t, b, fmt.Sprintf("a client after %d malformed messages", maxProtocolErrors), wire.CodeProtocol, unix.EINVAL, "too many malformed messages")
		if err := <-done; !errors.Is(err, errTooManyMalformed) {
			t.Errorf("ServeConn: %v", err)
		}
	})
	t.Run("capfd client sees the refusal", func(t *testing.T) {
		_, path := servedOneSlot(t, Config{}, "d", dir)
		first, err := capfd.Dial(path)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		if _, err := capfd.Dial(path); !errors.Is(err, unix.EAGAIN) {
			t.Errorf("over the client limit: %v, want a limit error matching EAGAIN", err)
		}
	})
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
