package capfd

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

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

// snapshot describes everything observable about the tree under root:
// names, types, modes, owners, sizes, mtimes, contents, link targets and
// xattrs. Two equal snapshots mean an operation changed nothing.
func snapshot(t testing.TB, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s mode=%o uid=%d gid=%d size=%d nlink=%d mtime=%d.%d",
			rel, st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec)
		// Access times are left out: taking the snapshot reads every file
		// and so moves them (relatime).
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " sha=%x", sha256.Sum256(data))
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " -> %s", target)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			buf := make([]byte, 4096)
			n, err := unix.Llistxattr(p, buf)
			if err == nil {
				names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
				slices.Sort(names)
				fmt.Fprintf(&b, " xattrs=%q", names)
			}
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
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
