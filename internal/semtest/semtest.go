// Package semtest is the harness of the path-semantics tests (vfsops,
// capfd, capfd run): the kernel's meaning of trailing slashes, a final
// "." or "..", and ".." after a symlink (a -> b/c makes "a/.." b), which
// must be resolved, never cleaned away lexically.
//
// Each case is made through the code under test on one scratch tree and
// as the plain system call on an identical one (Roots); the errno
// (SameError) and the tree afterwards (SameTree) must be the same. The
// plain call is the specification: nothing here hard-codes what the
// kernel answers.
package semtest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/internal/treestate"
	"golang.org/x/sys/unix"
)

// Tree builds the scratch tree under root:
//
//	file, target     regular files
//	dir/             empty directory
//	full/x           non-empty directory
//	link -> dir      symlink to a directory
//	flink -> file    symlink to a file
//	dangling -> missing
//	a -> b/c         symlink to a directory one level down
//	b/c/             empty directory
//	b/target         regular file (what "a/../target" names)
//	b/sub/x          so that b lists c, sub and target
func Tree(t testing.TB, root string) {
	t.Helper()
	for name, data := range map[string]string{
		"file": "file", "target": "target", "full/x": "x", "b/target": "b/target", "b/sub/x": "b/sub/x",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"dir", "b/c"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"link": "dir", "flink": "file", "dangling": "missing", "a": "b/c"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
}

// Roots builds two identical scratch trees in a fresh temporary
// directory: ref, for the plain call, and ours, for the code under test.
func Roots(t testing.TB) (ref, ours string) {
	t.Helper()
	tmp := t.TempDir()
	ref, ours = filepath.Join(tmp, "ref"), filepath.Join(tmp, "ours")
	Tree(t, ref)
	Tree(t, ours)
	return ref, ours
}

// Errno is the errno err carries: 0 for nil, 0xffff for an error that
// carries none.
func Errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.Errno(0xffff)
}

// fsSentinels are the io/fs sentinels an errno stands for.
var fsSentinels = []error{fs.ErrNotExist, fs.ErrExist, fs.ErrPermission}

// SameError fails t unless got carries the errno want (the plain call's
// error) carries; and then unless got matches that errno with errors.Is,
// and each io/fs sentinel exactly when the errno does.
func SameError(t testing.TB, got, want error) {
	t.Helper()
	if Errno(got) != Errno(want) {
		t.Fatalf("got %v, the plain call %v", got, want)
	}
	errno := Errno(want)
	if errno == 0 {
		return
	}
	if !errors.Is(got, errno) {
		t.Errorf("%v: not errors.Is %v", got, errno)
	}
	for _, s := range fsSentinels {
		if errors.Is(errno, s) != errors.Is(got, s) {
			t.Errorf("%v: errors.Is %v is %v, for the errno %v", got, s, errors.Is(got, s), errors.Is(errno, s))
		}
	}
}

// Names is treestate.Names of root, failing t on error.
func Names(t testing.TB, root string) string {
	t.Helper()
	s, err := treestate.Names(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// SameTree fails t unless the trees under ours and ref hold the same
// names, types, link targets and contents (treestate.Names).
func SameTree(t testing.TB, ours, ref string) {
	t.Helper()
	if got, want := Names(t, ours), Names(t, ref); got != want {
		t.Errorf("tree afterwards:\n%s\nthe plain call's:\n%s", got, want)
	}
}

// Readlinkat is the plain readlinkat(2) of name beneath fd, the reference
// a readlink case is compared with.
func Readlinkat(fd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
