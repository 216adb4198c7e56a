package broker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// TestClientSeesGoodbye: when the broker closes a capfd.Remote's
// connection after the handshake, the call pending then and every call
// made afterwards fail with the broker's reason, matching
// capfd.ErrBrokerClosed and the errno the broker sent (the client used to
// drop the reason and report EPIPE or EOF).
func TestClientSeesGoodbye(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// end makes the broker close the connection; pending, if set, is
		// a call in flight meanwhile, whose error end returns.
		end       func(t *testing.T, b *goodbyeBroker) (pending error)
		pending   bool
		wantErrno unix.Errno
		wantText  string
	}{
		{
			name: "idle timeout, then a call",
			cfg:  Config{IdleTimeout: 50 * time.Millisecond},
			end: func(t *testing.T, b *goodbyeBroker) error {
				b.awaitAudit(t, "disconnect")
				return nil
			},
			wantErrno: unix.ETIMEDOUT,
			wantText:  "the idle timeout",
		},
		{
			name: "shutdown, then a call",
			cfg:  Config{},
			end: func(t *testing.T, b *goodbyeBroker) error {
				b.shutdown(t)
				return nil
			},
			wantErrno: unix.ESHUTDOWN,
			wantText:  "broker shutting down",
		},
		{
			// The FIFO open outlasts the drain, so the goodbye reaches a
			// client that is reading, waiting for its reply.
			name: "shutdown during a blocked call",
			cfg:  Config{DrainTimeout: 50 * time.Millisecond},
			end: func(t *testing.T, b *goodbyeBroker) error {
				pending := make(chan error, 1)
				go func() {
					f, err := b.dir.Open("fifo")
					if err == nil {
						f.Close()
					}
					pending <- err
				}()
				waitBlocked(t, b.srv, "the FIFO open in the broker")
				b.shutdown(t)
				return <-pending
			},
			pending:   true,
			wantErrno: unix.ESHUTDOWN,
			wantText:  "broker shutting down",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := startGoodbyeBroker(t, tc.cfg)
			pending := tc.end(t, b)
			_, later := b.dir.Stat("hello")
			_, again := b.dir.Stat("hello")
			errs := map[string]error{"the call after the close": later, "a second call": again}
			if tc.pending {
				errs["the pending call"] = pending
			}
			for what, err := range errs {
				if !errors.Is(err, capfd.ErrBrokerClosed) || !errors.Is(err, tc.wantErrno) || !strings.Contains(fmtErr(err), tc.wantText) {
					t.Errorf("%s: %v; want an error matching capfd.ErrBrokerClosed and %v, naming %q", what, err, tc.wantErrno, tc.wantText)
				}
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// goodbyeBroker is a Serve broker with one capfd client connected, a
// directory with a regular file ("hello") and a FIFO ("fifo") granted.
type goodbyeBroker struct {
	srv    *Server
	dir    *capfd.Dir
	audit  chan string // the audit records' messages
	cancel context.CancelFunc
	done   chan error
}

func startGoodbyeBroker(t *testing.T, cfg Config) *goodbyeBroker {
	t.Helper()
	root := fifoDir(t)
	if err := os.WriteFile(filepath.Join(root, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Releases a FIFO open still blocked in the broker.
		if fd, err := unix.Open(filepath.Join(root, "fifo"), unix.O_RDWR|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	})
	b := &goodbyeBroker{audit: make(chan string, 64), done: make(chan error, 1)}
	cfg.Audit = slog.New(chanHandler(b.audit))
	cfg.Policy = allRule(Grant{Name: "d", Path: root, Rights: rights.Uniform(rights.ReadOnly)})
	b.srv = newServer(t, cfg)
	ln, path := listen(t)
	var ctx context.Context
	ctx, b.cancel = context.WithCancel(context.Background())
	go func() { b.done <- b.srv.Serve(ctx, ln) }()
	t.Cleanup(func() { b.shutdown(t) })
	r, err := capfd.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if b.dir, err = r.Dir("d"); err != nil {
		t.Fatal(err)
	}
	b.awaitAudit(t, "connect")
	return b
}

// shutdown cancels Serve and waits for it to return: every connection
// has then been told and closed.
func (b *goodbyeBroker) shutdown(t *testing.T) {
	b.cancel()
	if b.done == nil {
		return
	}
	if err := <-b.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	b.done = nil
}

func (b *goodbyeBroker) awaitAudit(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(20 * time.Second) // a hang becomes a failure; nothing waits on it
	for {
		select {
		case m := <-b.audit:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no %q audit record", msg)
		}
	}
}

// chanHandler is a slog.Handler that sends each record's message to ch
// (dropping it if ch is full): tests wait on the broker's audit records.
type chanHandler chan string

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h <- r.Message:
	default:
	}
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }
