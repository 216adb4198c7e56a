package broker_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// threads returns the broker process's thread count.
func (b *brokerProc) threads(t testing.TB) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid()))
	if err != nil {
		t.Fatalf("the broker is gone: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads: line")
	return 0
}

// sharedFIFODir is a directory with a FIFO that a broker running as
// another user can open.
func sharedFIFODir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "capfd-fifo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "fifo"), 0o666)
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	return dir
}

// brokerUID is a user no other process runs as: RLIMIT_NPROC counts every
// task of the user, and the test means to count only the broker's.
const brokerUID = 64123

// TestBlockingUnderPressure is the load: 20 clients pipelining 64
// FIFO opens each (every one blocks until a writer comes) at a broker
// process, once as root and once as a user with RLIMIT_NPROC=200. Without
// a bound the broker made a thread per blocked open (1,287 here) and,
// under the rlimit, aborted, dropping every client. Now the broker stays
// up, every open is either blocked in one of the bounded slots or refused
// at once with a limit error, its threads stay within the slots plus a
// reserve, a bystander is served meanwhile (a regular file's open is not
// refused), and once a writer comes every blocked open succeeds: zero
// failures; the threads the blocked opens pinned are released.
func TestBlockingUnderPressure(t *testing.T) {
	const clients, opens = 20, 64
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs util-linux prlimit")
	}
	tests := []struct {
		name string
		o    brokerOptions
	}{
		{"root", brokerOptions{}},
		{"RLIMIT_NPROC=200", brokerOptions{uid: brokerUID, wrapper: []string{prlimit, "--nproc=200:200", "--"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.uid != 0 && os.Getuid() != 0 {
				t.Skip("needs root to run the broker as another user")
			}
			dir := sharedFIFODir(t)
			b := startBrokerWith(t, []grantSpec{{"r", dir, "rw"}}, tc.o)
			baseThreads := b.threads(t)
			var refused, opened, failed atomic.Int64
			var wg sync.WaitGroup
			for range clients {
				uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: b.socket, Net: "unixpacket"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { uc.Close() })
				rc := brokertest.NewRawClient(t, uc)
				for range opens {
					rc.Send(&wire.Request{Op: wire.OpOpen, Handle: rc.Roots["r"], Path: "fifo", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, wire.MaxMessage)
					for range opens {
						rep, fd, err := rc.Conn.RecvReply(buf)
						if fd >= 0 {
							unix.Close(fd)
						}
						switch {
						case err != nil:
							failed.Add(1)
							t.Errorf("connection lost: %v", err)
							return
						case rep.Err == nil:
							opened.Add(1)
						case rep.Err.Code == wire.CodeLimit && strings.Contains(rep.Err.Message, "may block"):
							refused.Add(1)
						default:
							failed.Add(1)
							t.Errorf("open: %+v", *rep.Err)
						}
					}
				}()
			}
			// Whatever happens, let the blocked opens go at the end.
			fifo := filepath.Join(dir, "fifo")
			t.Cleanup(func() {
				if w, err := unix.Open(fifo, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
					unix.Close(w)
				}
			})

			var blocked int64
			testwait.Until(t, "every open blocked or refused", asyncTimeout, func() bool {
				blocked = int64(b.metric(t, "capfd_broker_blocking"))
				return failed.Load() > 0 || refused.Load()+blocked == clients*opens
			})
			if failed.Load() > 0 {
				t.Fatalf("%d opens failed", failed.Load())
			}
			// The default limits: 16 per client, 256 in all, plus one
			// overflow per connection.
			if blocked == 0 || blocked > 256+clients {
				t.Errorf("%d opens blocked at once, want 1..%d", blocked, 256+clients)
			}
			if tc.o.uid != 0 && !strings.Contains(b.logText(), "RLIMIT_NPROC") {
				t.Errorf("the broker's log does not say it lowered the limit for RLIMIT_NPROC:\n%s", b.logText())
			}
			// One thread per blocked open at most, plus the reserve
			// (2*GOMAXPROCS+32) and one per connection's reader.
			if n, bound := b.threads(t), baseThreads+int(blocked)+2*2+32+clients; n > bound {
				t.Errorf("broker runs %d threads with %d opens blocked, want at most %d", n, blocked, bound)
			}
			if data, err := rootDir(t, dial(t, b), "r").ReadFile("file"); err != nil || string(data) != "x" {
				t.Errorf("a bystander while the slots are full: %q, %v", data, err)
			}

			w, err := unix.Open(fifo, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			unix.Close(w)
			if opened.Load() != blocked || failed.Load() != 0 {
				t.Errorf("after a writer came: %d opened, %d failed; want %d opened, 0 failed", opened.Load(), failed.Load(), blocked)
			}
			testwait.Until(t, "no request blocking", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_blocking") == 0 })
			// The threads the blocked opens pinned end with them.
			testwait.Until(t, "the broker's threads back near where they were", asyncTimeout, func() bool { return b.threads(t) <= baseThreads+2*2+32 })
		})
	}
}
