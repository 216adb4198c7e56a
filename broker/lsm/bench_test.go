//go:build linux

package lsm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/rights"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// BenchmarkOpenClose measures open(O_RDONLY)+close of one file with capfd's
// programs in several states, as ratios against a baseline state.
//
// Timings under TCG on a shared machine drift by tens of percent within a
// run, so states are not measured one after the other: every b.Loop round
// times a batch in the baseline state and a batch in the measured state back
// to back, and the ratio is of the sums, so drift hits both alike.
//
//   - unloaded: file_open detached in both halves; its distance from 1 is
//     the noise. file_open is the only capfd program an open+close passes,
//     so "file_open detached" is "capfd unloaded" for this loop (detaching
//     all 26 links takes seconds under TCG; one is cheap enough per round).
//   - loaded-unmarked (x-unloaded): file_open attached, this process
//     unmarked: what every other process on the machine pays.
//   - loaded-marked (x-unmarked): this process marked, the file granted
//     directly, against the same process unmarked.
//   - loaded-marked-deep (x-unmarked): marked, the file 16 directories below
//     its grant, so file_open walks 17 dentries.
//
// Run it in the VM: CAPFD_LSM_GUEST_ARGS="-test.run=^$ -test.bench=OpenClose"
// go test -run TestInVM ./broker/lsm
func BenchmarkOpenClose(b *testing.B) {
	requireBPFLSM(b)
	if err := closeShared(); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	shallow := filepath.Join(root, "f")
	deep := filepath.Join(root, strings.Repeat("d/", 16), "f")
	for _, p := range []string{shallow, deep} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	e, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	sandbox := newSandbox()
	if err := e.GrantPath(sandbox, shallow, rights.Pair{Base: rights.ReadOnly}); err != nil {
		b.Fatal(err)
	}
	if err := e.GrantPath(sandbox, root, rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadOnly}); err != nil {
		b.Fatal(err)
	}
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(self)

	const batch = 2000
	openClose := func(b *testing.B, path string) {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
	timeBatch := func(b *testing.B, path string) time.Duration {
		// Untimed warm-up: the first opens after a state change or a
		// pause run cold (TCG translation, caches), whichever half
		// comes first would pay for it.
		for range batch / 10 {
			openClose(b, path)
		}
		start := time.Now()
		for range batch {
			openClose(b, path)
		}
		return time.Since(start)
	}
	fileOpen := slices.Index(e.attached, "file_open")
	// Detaching and attaching a trampoline leaves the kernel busy for a
	// moment (RCU-tasks grace periods, text patching): let it settle
	// before the next timed batch, or that batch pays for it. A
	// deliberate pause, not a wait: nothing the kernel exposes says it
	// has settled.
	const settle = 100 * time.Millisecond
	detachFileOpen := func(b *testing.B) {
		if err := e.links[fileOpen].Close(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(settle)
	}
	attachFileOpen := func(b *testing.B) {
		l, err := link.AttachLSM(link.LSMOptions{Program: e.coll.Programs["file_open"]})
		if err != nil {
			b.Fatal(err)
		}
		e.links[fileOpen] = l
		time.Sleep(settle)
	}
	// Marking the benchmark process itself confines it to root's files
	// until it is unmarked, which the marked states do after each batch.
	mark := func(b *testing.B) {
		if err := e.Mark(self, sandbox); err != nil {
			b.Fatal(err)
		}
	}
	unmark := func(b *testing.B) {
		if err := e.Unmark(self); err != nil {
			b.Fatal(err)
		}
	}
	none := func(*testing.B) {}

	cases := []struct {
		name, path, unit      string
		baseIn, baseOut       func(*testing.B) // around the baseline batch
		measureIn, measureOut func(*testing.B) // around the measured batch
	}{
		{"unloaded", shallow, "x-unloaded", detachFileOpen, none, none, attachFileOpen},
		{"loaded-unmarked", shallow, "x-unloaded", detachFileOpen, attachFileOpen, none, none},
		{"loaded-marked", shallow, "x-unmarked", none, none, mark, unmark},
		{"loaded-marked-deep", deep, "x-unmarked", none, none, mark, unmark},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var base, measured time.Duration
			for b.Loop() {
				c.baseIn(b)
				base += timeBatch(b, c.path)
				c.baseOut(b)
				c.measureIn(b)
				measured += timeBatch(b, c.path)
				c.measureOut(b)
			}
			b.ReportMetric(float64(measured)/float64(base), c.unit)
			b.ReportMetric(float64(measured.Nanoseconds())/float64(b.N*batch), "ns/open")
		})
	}
}
