//go:build linux

package lsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// BenchmarkOpenClose measures open(O_RDONLY)+close of one file in four
// states and reports the last three as ratios to the first, the same loop
// with no capfd programs loaded, measured in the same run: TCG timings mean nothing alone,
// ratios within a run do.
//
//   - unloaded: no programs: the baseline
//   - loaded-unmarked: programs attached, this process unmarked: what every
//     other process on the machine pays
//   - loaded-marked: this process marked, the file granted directly
//   - loaded-marked-deep: marked, the file 16 directories below its grant,
//     so file_open walks 16 parents
//   - unloaded-again: after Close; its distance from 1 is the run's noise
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
	deepDir := filepath.Join(root, strings.Repeat("d/", 16))
	deep := filepath.Join(deepDir, "f")
	for _, p := range []string{shallow, deep} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	loop := func(path string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
			}
		}
	}
	// The unloaded run comes first and is the baseline of the others
	// (sub-benchmarks run in order; with -count, each repeats in place and
	// the fastest unloaded run is the baseline).
	var baseline float64
	run := func(name, path string) {
		b.Run(name, func(b *testing.B) {
			loop(path)(b)
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if name == "unloaded" {
				if baseline == 0 || perOp < baseline {
					baseline = perOp
				}
				return
			}
			b.ReportMetric(perOp/baseline, "x-unloaded")
		})
	}

	// Warm up first: under TCG the first pass through any code path pays
	// for its translation, which would inflate the baseline.
	for range 5000 {
		if fd, err := unix.Open(shallow, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
		}
	}
	run("unloaded", shallow)
	e, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	run("loaded-unmarked", shallow)

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
	// Marking the benchmark process itself: only the two granted files
	// (and whatever sits under root) may be opened until Unmark.
	if err := e.Mark(self, sandbox); err != nil {
		b.Fatal(err)
	}
	run("loaded-marked", shallow)
	run("loaded-marked-deep", deep)
	if err := e.Unmark(self); err != nil {
		b.Fatal(err)
	}
	// Unloaded again: how far this ratio is from 1 is the run's noise.
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	run("unloaded-again", shallow)
}
