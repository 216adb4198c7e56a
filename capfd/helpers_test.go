package capfd

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/capfd/capfd/internal/treestate"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// populate builds the standard test tree under root:
//
//	file          "hello\n"
//	empty/        (empty directory)
//	sub/inner     "inner\n"
//	sub/deep/x    "x\n"
//	link -> file  (relative symlink inside)
func populate(t testing.TB, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "file"), []byte("hello\n"), 0o644))
	must(os.Mkdir(filepath.Join(root, "empty"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sub", "inner"), []byte("inner\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sub", "deep", "x"), []byte("x\n"), 0o644))
	must(os.Symlink("file", filepath.Join(root, "link")))
}

// tree returns a populated directory and a Dir on it with rights r, closed
// at the end of the test.
func tree(t testing.TB, r rights.Pair) (string, *Dir) {
	t.Helper()
	root := t.TempDir()
	populate(t, root)
	return root, openTestDir(t, root, r)
}

func openTestDir(t testing.TB, path string, r rights.Pair, how ...Resolve) *Dir {
	t.Helper()
	d, err := OpenDir(path, r, how...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// snapshot is treestate.Full, failing t on error: two equal snapshots
// mean an operation changed nothing.
func snapshot(t testing.TB, root string) string {
	t.Helper()
	s, err := treestate.Full(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fdCount returns how many descriptors this process has open.
func fdCount(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// fdTargets lists this process's descriptors and what they point to.
func fdTargets() []string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"->"+target)
	}
	return out
}

var warmUpOnce sync.Once

// warmUp makes vfsops open the procfs handle it keeps for the life of the
// process (on the first Reopen), so that it is not counted as a leak.
func warmUp(t testing.TB) {
	warmUpOnce.Do(func() {
		_, d := tree(t, rights.Uniform(rights.All))
		f, err := d.OpenFile("file", unix.O_PATH, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		g, err := f.Reopen(os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		g.Close()
	})
}

// checkNoFdLeak fails the test if it ends with more descriptors open than
// it started with.
func checkNoFdLeak(t *testing.T) {
	t.Helper()
	warmUp(t)
	before := fdTargets()
	t.Cleanup(func() {
		if after := fdTargets(); len(after) != len(before) {
			t.Errorf("descriptors: %d before, %d after: leak\nbefore: %q\nafter:  %q", len(before), len(after), before, after)
		}
	})
}

func wantNotCapable(t testing.TB, err error) {
	t.Helper()
	var capErr *Error
	if !errors.Is(err, ErrNotCapable) || !errors.As(err, &capErr) {
		t.Fatalf("got %v, want a *capfd.Error matching ErrNotCapable", err)
	}
	if capErr.Held.Has(capErr.Needed) {
		t.Fatalf("%v: refused although Held %s has Needed %s", err, capErr.Held, capErr.Needed)
	}
}

// bits returns the single rights in r.
func bits(r rights.Rights) []rights.Rights {
	var out []rights.Rights
	for b := rights.Rights(1); b != 0 && b <= r; b <<= 1 {
		if r&b != 0 {
			out = append(out, b)
		}
	}
	return out
}
