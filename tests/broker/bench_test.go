package broker_test

import (
	"bufio"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfd/capfd/capfd"
	"golang.org/x/sys/unix"
)

// The benchmarks compare a brokered operation with the same system call
// made directly and with a bare SEQPACKET round trip to another process
// (an echo server: the floor for any broker), in the same run, batch by
// batch, and report the ratios of the per-batch medians: robust on a shared
// machine where a neighbour's burst would skew a plain mean.

// startEcho runs this test binary as an echo server and returns a
// connection to it.
func startEcho(b *testing.B, withFD bool) *net.UnixConn {
	b.Helper()
	socket := filepath.Join(b.TempDir(), "echo.sock")
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CAPFD_E2E_ROLE=echo", "CAPFD_E2E_SOCKET="+socket)
	if withFD {
		cmd.Env = append(cmd.Env, "CAPFD_E2E_FD=1")
	}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		b.Fatalf("echo server: %q", line)
	}
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { uc.Close() })
	return uc
}

// roundTrip returns a function making one bare round trip: a request of
// reqSize bytes, a reply of replySize bytes (and a descriptor, closed at
// once, if the server sends one).
func roundTrip(b *testing.B, uc *net.UnixConn, reqSize, replySize int) func() {
	req := make([]byte, reqSize)
	copy(req, "SZ")
	binary.LittleEndian.PutUint32(req[2:], uint32(replySize))
	buf := make([]byte, 1<<17)
	oob := make([]byte, unix.CmsgSpace(4))
	return func() {
		if _, _, err := uc.WriteMsgUnix(req, nil, nil); err != nil {
			b.Fatal(err)
		}
		_, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		if err != nil {
			b.Fatal(err)
		}
		if oobn > 0 {
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for i := range msgs {
				fds, _ := unix.ParseUnixRights(&msgs[i])
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
}

// arm is one way of doing the benchmarked operation.
type arm struct {
	name string
	fn   func()
}

// compare runs the arms interleaved in batches for b.N operations each,
// reports each arm's median ns/op and the first arm's ratio to the others,
// and returns the medians by arm name for further ratios.
func compare(b *testing.B, arms ...arm) map[string]float64 {
	const batch = 64
	samples := make([][]float64, len(arms))
	for range 3 { // warm-up
		for _, a := range arms {
			a.fn()
		}
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		for i, a := range arms {
			start := time.Now()
			for range batch {
				a.fn()
			}
			samples[i] = append(samples[i], float64(time.Since(start).Nanoseconds())/batch)
		}
	}
	b.StopTimer()
	med := make([]float64, len(arms))
	for i, s := range samples {
		slices.Sort(s)
		med[i] = s[len(s)/2]
		b.ReportMetric(med[i], arms[i].name+"-ns/op")
	}
	out := map[string]float64{}
	for i, a := range arms {
		out[a.name] = med[i]
		if i > 0 && !strings.HasPrefix(a.name, "broker") {
			b.ReportMetric(med[0]/med[i], "x-"+a.name)
		}
	}
	return out
}

type benchEnv struct {
	dir    string
	dirfd  int
	remote *capfd.Remote
	d      *capfd.Dir // every operation a request
	direct *capfd.Dir // direct I/O: data operations on passed descriptors
	bare   *net.UnixConn
	bareFD *net.UnixConn
}

func setupBench(b *testing.B) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), make([]byte, 64<<10), 0o644)
	br := startBroker(b, []grantSpec{{"data", dir, "ro"}}, "")
	r, err := capfd.Dial(br.socket)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	d, err := r.Dir("data")
	if err != nil {
		b.Fatal(err)
	}
	rd, err := capfd.Dial(br.socket)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rd.Close() })
	rd.SetDirectIO(true)
	direct, err := rd.Dir("data")
	if err != nil {
		b.Fatal(err)
	}
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(dirfd) })
	return &benchEnv{dir: dir, dirfd: dirfd, remote: r, d: d, direct: direct, bare: startEcho(b, false), bareFD: startEcho(b, true)}
}

// Sizes of the protocol messages, so the bare round trips carry as many
// bytes as the broker's.
const (
	statReqSize   = 20 + 2 + 1 + 1 + 1 // header, path "f", resolve, follow
	statReplySize = 20 + 128
	openReqSize   = 20 + 3 + 4 + 4 + 1 + 16
	openReplySize = 20 + 5 + 16
	readReqSize   = 20 + 8 + 4
)

func BenchmarkOpenClose(b *testing.B) {
	e := setupBench(b)
	med := compare(b,
		arm{"broker", func() {
			f, err := e.d.Open("f")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}},
		arm{"direct", func() {
			fd, err := unix.Openat(e.dirfd, "f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}},
		arm{"bare-rtt", roundTrip(b, e.bare, openReqSize, openReplySize)},
		arm{"bare-rtt-fd", roundTrip(b, e.bareFD, openReqSize, openReplySize)},
		arm{"broker-direct", func() {
			f, err := e.direct.Open("f")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}},
	)
	// With direct I/O every open also passes the descriptor back.
	b.ReportMetric(med["broker-direct"]/med["bare-rtt-fd"], "directio-x-bare-rtt-fd")
}

// BenchmarkOpenFdClose also has the descriptor passed back (File.Fd), the
// brokered counterpart of a bare round trip carrying an fd.
func BenchmarkOpenFdClose(b *testing.B) {
	e := setupBench(b)
	compare(b,
		arm{"broker", func() {
			f, err := e.d.Open("f")
			if err != nil {
				b.Fatal(err)
			}
			if f.Fd() == ^uintptr(0) {
				b.Fatal("no fd")
			}
			f.Close()
		}},
		arm{"direct", func() {
			fd, _ := unix.Openat(e.dirfd, "f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			unix.Close(fd)
		}},
		arm{"bare-rtt-fd", roundTrip(b, e.bareFD, openReqSize, openReplySize)},
	)
}

func BenchmarkStat(b *testing.B) {
	e := setupBench(b)
	compare(b,
		arm{"broker", func() {
			if _, err := e.d.Stat("f"); err != nil {
				b.Fatal(err)
			}
		}},
		arm{"direct", func() {
			var st unix.Stat_t
			if err := unix.Fstatat(e.dirfd, "f", &st, 0); err != nil {
				b.Fatal(err)
			}
		}},
		arm{"bare-rtt", roundTrip(b, e.bare, statReqSize, statReplySize)},
	)
}

func BenchmarkRead4K(b *testing.B) {
	e := setupBench(b)
	f, err := e.d.Open("f")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	df, err := e.direct.Open("f")
	if err != nil {
		b.Fatal(err)
	}
	defer df.Close()
	fd, _ := unix.Openat(e.dirfd, "f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	defer unix.Close(fd)
	p := make([]byte, 4096)
	med := compare(b,
		arm{"broker", func() {
			if n, err := f.ReadAt(p, 0); n != 4096 || err != nil {
				b.Fatal(n, err)
			}
		}},
		arm{"direct", func() {
			if n, err := unix.Pread(fd, p, 0); n != 4096 || err != nil {
				b.Fatal(n, err)
			}
		}},
		arm{"bare-rtt", roundTrip(b, e.bare, readReqSize, 20+4+4096)},
		arm{"broker-direct", func() {
			if n, err := df.ReadAt(p, 0); n != 4096 || err != nil {
				b.Fatal(n, err)
			}
		}},
	)
	// With direct I/O the read is a pread on the passed descriptor.
	b.ReportMetric(med["broker-direct"]/med["direct"], "directio-x-direct")
}

// BenchmarkPipelined keeps N stat requests in flight on one connection
// (N goroutines sharing a Remote): the per-operation cost falls below a
// round trip as replies overlap and requests and replies travel in
// batches. pct-of-direct is its throughput as a share of direct fstatat
// calls made one after another, measured before and after like the bare
// round trip.
func BenchmarkPipelined(b *testing.B) {
	e := setupBench(b)
	rtt := roundTrip(b, e.bare, statReqSize, statReplySize)
	for _, n := range []int{1, 4, 16, 64} {
		b.Run("inflight="+itoa(n), func(b *testing.B) {
			// The baseline: sequential bare round trips, same run, measured
			// before and after (averaged: the pipelined arm cannot be
			// interleaved batch by batch).
			const probe = 1000
			measure := func(op func()) float64 {
				start := time.Now()
				for range probe {
					op()
				}
				return float64(time.Since(start).Nanoseconds()) / probe
			}
			direct := func() {
				var st unix.Stat_t
				if err := unix.Fstatat(e.dirfd, "f", &st, 0); err != nil {
					b.Fatal(err)
				}
			}
			before, directBefore := measure(rtt), measure(direct)
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := e.d.Stat("f"); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			perOp := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			b.StopTimer()
			bare := (before + measure(rtt)) / 2
			directNs := (directBefore + measure(direct)) / 2
			b.ReportMetric(bare, "bare-rtt-ns/op")
			b.ReportMetric(perOp/bare, "x-bare-rtt")
			// Throughput as a share of direct fstatat's (one thread).
			b.ReportMetric(100*directNs/perOp, "pct-of-direct")
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
