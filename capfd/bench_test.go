package capfd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// benchTree makes root/d/d/.../f with depth path components in all, and
// returns root and the relative path of f.
func benchTree(b *testing.B, depth int) (root, rel string) {
	root = b.TempDir()
	parts := make([]string, 0, depth)
	for range depth - 1 {
		parts = append(parts, "d")
	}
	dir := filepath.Join(append([]string{root}, parts...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	return root, strings.Join(append(parts, "f"), "/")
}

// benchRatio times subject b.N times (the benchmark's ns/op) and baseline
// as many times with the timer stopped, in alternating chunks so that both
// see the same machine load, and reports subject/baseline as metric unit:
// measured in the same run, on the same tree, the ratio means something
// where absolute times on a shared machine do not.
func benchRatio(b *testing.B, subject, baseline func(), unit string) {
	const chunk = 64
	var subjectTime, baselineTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		k := min(chunk, b.N-i)
		start := time.Now()
		for range k {
			subject()
		}
		subjectTime += time.Since(start)
		b.StopTimer()
		start = time.Now()
		for range k {
			baseline()
		}
		baselineTime += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(subjectTime)/float64(baselineTime), unit)
}

// BenchmarkOpenClose compares Dir.Open+Close with the raw system call it
// stands on (openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS + close) and
// with os.Root, on a 1-deep and an 8-deep path:
//
//	capfd:  ns/op of Dir.Open+Close, and x-openat2 = capfd / raw
//	os.Root: ns/op of Root.Open+Close, and x-capfd = os.Root / capfd
func BenchmarkOpenClose(b *testing.B) {
	for _, depth := range []int{1, 8} {
		root, rel := benchTree(b, depth)
		d, err := OpenDir(root, rights.Uniform(rights.ReadOnly))
		if err != nil {
			b.Fatal(err)
		}
		rawDir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		osRoot, err := os.OpenRoot(root)
		if err != nil {
			b.Fatal(err)
		}
		how := &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		}
		capfdOpen := func() {
			f, err := d.Open(rel)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		rawOpen := func() {
			fd, err := unix.Openat2(rawDir, rel, how)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
		rootOpen := func() {
			f, err := osRoot.Open(rel)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.Run(fmt.Sprintf("depth=%d/capfd", depth), func(b *testing.B) {
			benchRatio(b, capfdOpen, rawOpen, "x-openat2")
		})
		b.Run(fmt.Sprintf("depth=%d/openat2", depth), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				rawOpen()
			}
		})
		b.Run(fmt.Sprintf("depth=%d/os.Root", depth), func(b *testing.B) {
			benchRatio(b, rootOpen, capfdOpen, "x-capfd")
		})
		d.Close()
		unix.Close(rawDir)
		osRoot.Close()
	}
}

// BenchmarkReadAt measures the cost of the rights check and handle
// reference count on the hottest path, File.ReadAt, against pread(2).
func BenchmarkReadAt(b *testing.B) {
	root, rel := benchTree(b, 1)
	d, err := OpenDir(root, rights.Uniform(rights.ReadOnly))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	f, err := d.Open(rel)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1)
	fd := int(f.Fd())
	benchRatio(b, func() {
		if _, err := f.ReadAt(buf, 0); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if _, err := unix.Pread(fd, buf, 0); err != nil {
			b.Fatal(err)
		}
	}, "x-pread")
}
