package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// raceIterations is how many resolutions each race test makes per resolver.
const raceIterations = 3000

// TestRenameRace swaps things under a resolution as it runs. Whatever the
// interleaving, no resolution may hand back an fd of the outside file: it
// may succeed inside, or fail (ErrEscape, ENOENT, EAGAIN...), never escape.
//
// Each scenario first shows the swap is a real attack: the same path with a
// plain openat, under the same swapping, does reach the outside file.
func TestRenameRace(t *testing.T) {
	scenarios := []struct {
		name string
		// setup builds root and outside, returns the two paths to exchange
		// and the path to resolve.
		setup func(t *testing.T, root, outside string) (a, b, path string)
	}{
		{
			// A directory on the path is swapped with a symlink pointing
			// out of the root.
			name: "dir-symlink-exchange",
			setup: func(t *testing.T, root, outside string) (string, string, string) {
				mustWrite(t, filepath.Join(root, "d", "target"), "inside")
				mustSymlink(t, "../outside", filepath.Join(root, "s"))
				return filepath.Join(root, "d"), filepath.Join(root, "s"), "d/target"
			},
		},
		{
			// A directory the walk is in is moved out of the root, so a
			// following ".." would land outside.
			name: "dir-moved-out",
			setup: func(t *testing.T, root, outside string) (string, string, string) {
				mustWrite(t, filepath.Join(root, "target"), "inside")
				if err := os.MkdirAll(filepath.Join(root, "x", "y"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(outside, "o", "y"), 0o755); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(root, "x"), filepath.Join(outside, "o"), "x/y/../../target"
			},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			tmp := t.TempDir()
			root, outside := filepath.Join(tmp, "root"), filepath.Join(tmp, "outside")
			mustWrite(t, filepath.Join(outside, "target"), "secret")
			a, b, path := sc.setup(t, root, outside)
			rootfd := openDir(t, root)
			secret := pathID(t, filepath.Join(outside, "target"))

			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
						t.Errorf("renameat2 exchange: %v", err)
						return
					}
				}
			}()
			defer func() { close(stop); wg.Wait() }()

			// The attack works without protection. On a loaded machine the
			// swapper may get little CPU, so the bound is generous; the
			// loop stops at the first escape.
			escaped := false
			for i := 0; i < 2000000 && !escaped; i++ {
				fd, err := unix.Openat(rootfd, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err == nil {
					escaped = fdID(t, fd) == secret
					unix.Close(fd)
				}
			}
			if !escaped {
				t.Fatalf("plain openat never escaped under the swap: the scenario does not test anything")
			}

			for _, res := range resolvers {
				for _, how := range []Resolve{0, InRoot} {
					var ok, failed int
					// Keep going past raceIterations until at least one
					// resolution has succeeded (bounded), so that a run
					// where the scheduler kept the swapper in lockstep is
					// not mistaken for a vacuous test.
					for i := 0; i < raceIterations || (ok == 0 && i < 10*raceIterations); i++ {
						fd, err := OpenBeneath(rootfd, path, unix.O_RDONLY, 0, how|res.how)
						if err != nil {
							if !errors.Is(err, ErrEscape) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.ENOTDIR) {
								t.Errorf("%s %v: unexpected error %v", res.name, how, err)
							}
							failed++
							continue
						}
						got := fdID(t, fd)
						unix.Close(fd)
						if got == secret {
							t.Fatalf("%s %v: resolution of %q escaped to the outside file", res.name, how, path)
						}
						ok++
					}
					t.Logf("%s %v: %d inside, %d refused", res.name, how, ok, failed)
					if ok == 0 {
						t.Errorf("%s %v: no resolution ever succeeded; the race test proves nothing", res.name, how)
					}
				}
			}
		})
	}
}
