package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// fifoDir makes a directory holding a FIFO named "fifo".
func fifoDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	return dir
}

// TestBlockingLimits pipelines FIFO opens (each blocks until a writer
// comes) from several clients: each client gets at most its limit of
// blocked requests, the server at most its limit plus one overflow per
// connection, every other open is answered at once with a limit error
// naming the limit, a bystander's stat and regular-file open are served
// while the slots are full, and once a writer comes every blocked open
// succeeds and the slots are free again. Nothing else happens: no lost
// connection, no other error.
func TestBlockingLimits(t *testing.T) {
	tests := []struct {
		name                     string
		perClient, total         int
		clients, opens           int
		minBlocked, maxBlocked   int
		wantPerClient, wantTotal bool // which limit errors must appear
	}{
		{"per-client limit", 4, 64, 3, 16, 12, 12, true, false},
		{"global limit", 8, 10, 4, 16, 10, 14, false, true},
		{"limits not reached", 8, 64, 2, 5, 10, 10, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := fifoDir(t)
			srv := newServer(t, Config{Limits: Limits{MaxBlocking: tc.perClient, MaxBlockingTotal: tc.total}})
			grants := []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadWrite)}}
			var refused, perClient, total, opened, other atomic.Int64
			var wg sync.WaitGroup
			var clients []*rawClient
			for range tc.clients {
				rc := rawServed(t, srv, grants)
				clients = append(clients, rc)
				ids := map[uint32]bool{}
				for range tc.opens {
					ids[rc.send(&wire.Request{Op: wire.OpOpen, Handle: rc.roots["r"], Path: "fifo", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})] = true
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range tc.opens {
						rep, fd, err := rc.conn.RecvReply(rc.buf)
						closeIfValid(fd)
						switch {
						case err != nil || !ids[rep.ID]:
							other.Add(1)
							t.Errorf("reply %+v, err %v", rep, err)
							return
						case rep.Err == nil:
							opened.Add(1)
						case rep.Err.Code == wire.CodeLimit && unix.Errno(rep.Err.Errno) == unix.EAGAIN && strings.Contains(rep.Err.Message, "per client"):
							refused.Add(1)
							perClient.Add(1)
						case rep.Err.Code == wire.CodeLimit && unix.Errno(rep.Err.Errno) == unix.EAGAIN && strings.Contains(rep.Err.Message, "over all clients"):
							refused.Add(1)
							total.Add(1)
						default:
							other.Add(1)
							t.Errorf("open: %+v", *rep.Err)
						}
					}
				}()
			}
			fifo := filepath.Join(dir, "fifo")
			t.Cleanup(func() { // a failed test must not leave opens blocked
				if w, err := unix.Open(fifo, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
					unix.Close(w)
				}
			})
			sent := int64(tc.clients * tc.opens)
			var blocked int64
			testwait.Until(t, "every open blocked or refused", asyncTimeout, func() bool {
				blocked = int64(testutil.ToFloat64(srv.m.blocking))
				return other.Load() > 0 || refused.Load()+blocked == sent
			})
			if blocked < int64(tc.minBlocked) || blocked > int64(tc.maxBlocked) {
				t.Errorf("%d opens blocked, want %d..%d", blocked, tc.minBlocked, tc.maxBlocked)
			}
			if (perClient.Load() > 0) != tc.wantPerClient || (total.Load() > 0) != tc.wantTotal {
				t.Errorf("limit errors: %d per client, %d over all clients; want per client %v, over all %v", perClient.Load(), total.Load(), tc.wantPerClient, tc.wantTotal)
			}

			// Full slots refuse nobody else anything.
			bystander := rawServed(t, srv, grants)
			if rep, _ := bystander.call(&wire.Request{Op: wire.OpStat, Handle: bystander.roots["r"], Path: "file"}); rep.Err != nil {
				t.Errorf("a bystander's stat while the slots are taken: %+v", *rep.Err)
			}
			r := served(t, srv, grants)
			d, err := r.Dir("r")
			if err != nil {
				t.Fatal(err)
			}
			if data, err := d.ReadFile("file"); err != nil || string(data) != "x" {
				t.Errorf("a bystander's open while the slots are taken: %q, %v", data, err)
			}
			d.Close()

			// A writer releases every blocked open.
			w, err := unix.Open(fifo, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(w)
			wg.Wait()
			if opened.Load() != blocked || refused.Load() != sent-blocked || other.Load() != 0 {
				t.Errorf("opened %d refused %d other %d; want %d, %d, 0", opened.Load(), refused.Load(), other.Load(), blocked, sent-blocked)
			}
			if got := testutil.ToFloat64(srv.m.blocking); got != 0 {
				t.Errorf("%v requests still counted as blocked once every reply arrived", got)
			}
			for i, rc := range clients {
				if rep, _ := rc.call(&wire.Request{Op: wire.OpOpen, Handle: rc.roots["r"], Path: "fifo", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}}); rep.Err != nil {
					t.Errorf("client %d: an open after the slots freed: %+v", i, *rep.Err)
				}
			}
			if got := testutil.ToFloat64(srv.m.ops.WithLabelValues("open", resultLimit)); got != float64(sent-blocked) {
				t.Errorf("open limit counter %v, want %d", got, sent-blocked)
			}
		})
	}
}

// TestBlockingLimitErrorThroughClient: the capfd client sees the limit as
// an error matching EAGAIN and a limit BrokerError.
func TestBlockingLimitErrorThroughClient(t *testing.T) {
	dir := fifoDir(t)
	srv := newServer(t, Config{Limits: Limits{MaxBlocking: 1}})
	r := served(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.ReadWrite)}})
	d, err := r.Dir("r")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	opened := make(chan error, 1)
	go func() { opened <- closedFile(d.Open("fifo")) }()
	testwait.Until(t, "the first open blocked", asyncTimeout, func() bool { return testutil.ToFloat64(srv.m.blocking) == 1 })
	_, err = d.Open("fifo")
	var be *capfd.BrokerError
	if !errors.Is(err, unix.EAGAIN) || !errors.As(err, &be) || be.Code != wire.CodeLimit || !strings.Contains(err.Error(), "limit 1 per client") {
		t.Errorf("a second blocking open at the limit: %v, want a limit error matching EAGAIN", err)
	}
	w, err := unix.Open(filepath.Join(dir, "fifo"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(w)
	if err := <-opened; err != nil {
		t.Errorf("the blocked open, once a writer came: %v", err)
	}
}

func closedFile(f *capfd.File, err error) error {
	if err == nil {
		f.Close()
	}
	return err
}

// TestBlockingLimitsConfig: the limits default, are checked, and never
// exceed what the runtime can give threads for.
func TestBlockingLimitsConfig(t *testing.T) {
	tests := []struct {
		in      Limits
		wantErr string
		per     int
	}{
		{Limits{}, "", 16},
		{Limits{MaxInflight: 4}, "", 4},
		{Limits{MaxInflight: 4, MaxBlocking: 5}, "max blocking 5", 0},
		{Limits{MaxBlockingTotal: maxBlockingTotal + 1}, fmt.Sprintf("max blocking total %d", maxBlockingTotal+1), 0},
		{Limits{MaxBlocking: -1}, "max blocking -1", 0},
	}
	for _, tc := range tests {
		srv, err := New(Config{Limits: tc.in})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: %v, want an error about %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.in, err)
			continue
		}
		if got := srv.Limits().MaxBlocking; got != tc.per {
			t.Errorf("%+v: max blocking %d, want %d", tc.in, got, tc.per)
		}
	}
}

func closeIfValid(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
