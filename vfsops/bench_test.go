package vfsops

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchTree makes a tree with a shallow and an 8-deep file.
func benchTree(b *testing.B) (dir string, paths map[string]string) {
	dir = b.TempDir()
	paths = map[string]string{
		"shallow": "f",
		"deep8":   strings.Repeat("d/", 7) + "f",
	}
	for _, p := range paths {
		mustWrite(b, filepath.Join(dir, p), "x")
	}
	return dir, paths
}

// opener is one way of opening a path beneath the tree and closing it.
type opener struct {
	name string
	open func(path string) error
}

func benchOpeners(b *testing.B, dir string) []opener {
	dirfd := openDir(b, dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { root.Close() })
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	closeFd := func(fd int, err error) error {
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
	return []opener{
		// The floor: no protection at all.
		{"openat", func(p string) error { return closeFd(unix.Openat(dirfd, p, unix.O_RDONLY|unix.O_CLOEXEC, 0)) }},
		// The same protection, with nothing around it.
		{"openat2", func(p string) error { return closeFd(unix.Openat2(dirfd, p, &how)) }},
		{"OpenBeneath", func(p string) error { return closeFd(OpenBeneath(dirfd, p, unix.O_RDONLY, 0, 0)) }},
		{"fallback", func(p string) error { return closeFd(OpenBeneath(dirfd, p, unix.O_RDONLY, 0, forceWalk)) }},
		{"os.Root", func(p string) error {
			f, err := root.Open(p)
			if err != nil {
				return err
			}
			return f.Close()
		}},
	}
}

// BenchmarkOpen reports ns/op of open+close for each opener on each path.
func BenchmarkOpen(b *testing.B) {
	dir, paths := benchTree(b)
	for _, depth := range []string{"shallow", "deep8"} {
		for _, o := range benchOpeners(b, dir) {
			b.Run(depth+"/"+o.name, func(b *testing.B) {
				for b.Loop() {
					if err := o.open(paths[depth]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpenRatios runs every opener in the same loop, interleaved in
// small batches so that they see the same machine state, and reports each
// one's ns/op and its ratio to raw openat2 (and os.Root's to OpenBeneath).
// Each figure is the median over batches: the machine is shared, and a
// median ignores the batches a preemption or GC pause landed in, where a
// mean would charge them to whichever opener was running.
func BenchmarkOpenRatios(b *testing.B) {
	dir, paths := benchTree(b)
	for _, depth := range []string{"shallow", "deep8"} {
		b.Run(depth, func(b *testing.B) {
			openers := benchOpeners(b, dir)
			samples := make([][]time.Duration, len(openers))
			const batch = 16
			for b.Loop() {
				for i, o := range openers {
					start := time.Now()
					for range batch {
						if err := o.open(paths[depth]); err != nil {
							b.Fatal(err)
						}
					}
					samples[i] = append(samples[i], time.Since(start))
				}
			}
			ns := map[string]float64{}
			for i, o := range openers {
				slices.Sort(samples[i])
				ns[o.name] = float64(samples[i][len(samples[i])/2].Nanoseconds()) / batch
				b.ReportMetric(ns[o.name], o.name+"-ns/op")
			}
			b.ReportMetric(ns["OpenBeneath"]/ns["openat2"], "OpenBeneath/openat2")
			b.ReportMetric(ns["OpenBeneath"]/ns["openat"], "OpenBeneath/openat")
			b.ReportMetric(ns["fallback"]/ns["openat2"], "fallback/openat2")
			b.ReportMetric(ns["os.Root"]/ns["OpenBeneath"], "os.Root/OpenBeneath")
		})
	}
}
