package capfd

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
)

// TestDialContextGivesUpOnASilentBroker: a broker that accepts and never
// answers the hello makes DialContext fail when its context is done, with
// the context's error, instead of hanging.
func TestDialContextGivesUpOnASilentBroker(t *testing.T) {
	path := brokertest.Silent(t, nil)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"already done", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			r, err := DialContext(ctx, path)
			if err == nil {
				r.Close()
				t.Fatal("DialContext succeeded against a broker that never answers")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("DialContext: %v, want an error matching %v", err, tc.want)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("DialContext took %v to give up", elapsed)
			}
		})
	}
}

// TestDialContextBoundsOnlyTheDial: a context that ends after DialContext
// returned leaves the connection alone (no deadline is left on the
// socket, no cancellation reaches it).
func TestDialContextBoundsOnlyTheDial(t *testing.T) {
	conn, ops := fakeBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	rem, err := newRemote(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	cancel()
	if _, err := rem.t.Fstat(1); err == nil || errors.Is(err, ErrBrokerClosed) {
		t.Fatalf("a call after the dial's context ended: %v, want the fake broker's refusal", err)
	}
	if op := <-ops; op != wire.OpFstat {
		t.Errorf("the broker saw %v", op)
	}
}

// TestSetDeadlineEndsAWaitForASilentBroker: after a handshake, a broker
// that stops answering fails the waiting call at the deadline, with an
// error matching os.ErrDeadlineExceeded and ErrBrokerClosed, and every
// later call fails too.
func TestSetDeadlineEndsAWaitForASilentBroker(t *testing.T) {
	conn := helloThenSilent(t)
	rem, err := NewRemote(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	if err := rem.SetDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = rem.t.Fstat(1)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, ErrBrokerClosed) {
		t.Errorf("call to a silent broker: %v, want os.ErrDeadlineExceeded and ErrBrokerClosed", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the call took %v to give up", elapsed)
	}
	if _, err := rem.t.Fstat(1); !errors.Is(err, ErrBrokerClosed) {
		t.Errorf("a call after the deadline: %v, want ErrBrokerClosed", err)
	}
}

// helloThenSilent is a connection to a broker that answers the hello and
// nothing after.
func helloThenSilent(t *testing.T) *net.UnixConn {
	t.Helper()
	path := brokertest.Silent(t, brokertest.HelloOnly)
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
