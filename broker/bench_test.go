package broker

import (
	"net"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

// BenchmarkInProcessStat serves stat over a socketpair in this process, to
// profile the broker's own cost without a second process's scheduling
// (tests/broker has the cross-process benchmarks with their ratios).
func BenchmarkInProcessStat(b *testing.B) {
	d := inProcessData(b)
	b.ResetTimer()
	for range b.N {
		if _, err := d.Stat("hello.txt"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInProcessEcho is the bare round trip over the same kind of
// socketpair, for comparison.
func BenchmarkInProcessEcho(b *testing.B) {
	a, c := brokertest.Socketpair(b)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, _, _, err := a.ReadMsgUnix(buf, nil)
			if err != nil || n == 0 {
				return
			}
			a.WriteMsgUnix(buf[:n], nil, nil)
		}
	}()
	defer a.Close()
	defer c.Close()
	msg := make([]byte, 25)
	buf := make([]byte, 4096)
	b.ResetTimer()
	for range b.N {
		c.WriteMsgUnix(msg, nil, nil)
		c.ReadMsgUnix(buf, nil)
	}
	_ = net.ErrClosed
}

// BenchmarkInProcessOpenClose is open+close over a socketpair in this
// process, for profiling.
func BenchmarkInProcessOpenClose(b *testing.B) {
	d := inProcessData(b)
	b.ResetTimer()
	for range b.N {
		f, err := d.Open("hello.txt")
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkInProcessPipelined keeps 64 stats in flight on one connection.
func BenchmarkInProcessPipelined(b *testing.B) {
	d := inProcessData(b)
	b.SetParallelism(32) // 64 goroutines on 2 Ps
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Stat("hello.txt"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// inProcessData is the test tree served read-only over a socketpair in
// this process, as the directory "data", closed when b ends.
func inProcessData(b *testing.B) *capfd.Dir {
	b.Helper()
	srv := newServer(b, Config{})
	r := served(b, srv, []Grant{{Name: "data", Path: testTree(b), Rights: rights.Uniform(rights.ReadOnly)}})
	d, err := r.Dir("data")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}
