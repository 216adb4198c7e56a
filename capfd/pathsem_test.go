package capfd_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/internal/semtest"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// The kernel's path semantics through Dir, on every transport: trailing
// slashes, final dots, and ".." after a symlink (resolved, never cleaned
// lexically). Each case is made through a Dir on one scratch tree and as
// the plain system call(s) on a plain directory fd of an identical tree;
// the errno and the tree afterwards must be the same. RemoveAll and
// MkdirAll, which have no system call, are compared with os.Root.

// pathTransport opens a Dir with rights r on root: in this process, or
// served by a broker over a socketpair (placed: with a grant whose base
// and inherit rights differ, which makes the broker place every path
// operation by identity, its own resolution code).
type pathTransport struct {
	name string
	open func(t *testing.T, root string, r rights.Pair) *capfd.Dir
}

func pathTransports() []pathTransport {
	local := func(t *testing.T, root string, r rights.Pair) *capfd.Dir {
		d, err := capfd.OpenDir(root, r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	remote := func(placed bool) func(t *testing.T, root string, r rights.Pair) *capfd.Dir {
		return func(t *testing.T, root string, r rights.Pair) *capfd.Dir {
			if placed {
				// Base and inherit differ (in a right no case uses):
				// the broker places every operation.
				r.Inherit &^= rights.Mount
				r.Base |= rights.Mount
			}
			return brokerDir(t, root, r)
		}
	}
	return []pathTransport{
		{"local", local},
		{"remote", remote(false)},
		{"remote-placed", remote(true)},
	}
}

// brokerDir serves root with rights r from an in-process broker and
// returns the client's Dir for it.
func brokerDir(t *testing.T, root string, r rights.Pair) *capfd.Dir {
	t.Helper()
	srv, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := brokertest.Pair(t, func(ctx context.Context, c *net.UnixConn) error {
		return srv.ServeConn(ctx, c, []broker.Grant{{Name: "root", Path: root, Rights: r}})
	})
	rem, err := capfd.NewRemote(conn)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rem.Dir("root")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		rem.Close()
	})
	return d
}

// plainRemove is os.Remove's (and Dir.Remove's) pair of system calls.
func plainRemove(fd int, p string) error {
	err := unix.Unlinkat(fd, p, 0)
	if err == nil {
		return nil
	}
	err1 := unix.Unlinkat(fd, p, unix.AT_REMOVEDIR)
	if err1 == nil {
		return nil
	}
	if err1 != unix.ENOTDIR {
		return err1
	}
	return err
}

// dirCase is one call through a Dir and its reference: the plain system
// calls on a directory fd (plain) or the same call through os.Root (root).
// Results other than the error are returned as a string.
type dirCase struct {
	name  string
	ours  func(d *capfd.Dir) (string, error)
	plain func(fd int) (string, error)
	root  func(r *os.Root) (string, error)
}

func none(err error) (string, error) { return "", err }

func dirCases() []dirCase {
	var cases []dirCase
	add := func(c dirCase) { cases = append(cases, c) }
	for _, p := range [][2]string{
		{"file", "target/"}, {"file/", "new"}, {"dir/", "newdir/"}, {"link/", "moved"},
		{"link", "moved/"}, {"file", "dir"}, {"dir", "file"}, {"dir", "full"}, {".", "moved"},
		{"file", "."}, {"a/../target", "moved"}, {"file", "a/../moved"}, {"file", "target"},
	} {
		old, new := p[0], p[1]
		add(dirCase{
			name:  fmt.Sprintf("Rename(%q,%q)", old, new),
			ours:  func(d *capfd.Dir) (string, error) { return none(d.Rename(old, nil, new)) },
			plain: func(fd int) (string, error) { return none(unix.Renameat(fd, old, fd, new)) },
		})
	}
	for _, p := range [][2]string{
		{"file", "target/"}, {"file", "new/"}, {"file/", "new"}, {"link/", "new"}, {"flink/", "new"},
		{"link", "new"}, {"dir", "new"}, {"file", "dir/.."}, {"a/../target", "new"},
	} {
		old, new := p[0], p[1]
		add(dirCase{
			name:  fmt.Sprintf("Link(%q,%q)", old, new),
			ours:  func(d *capfd.Dir) (string, error) { return none(d.Link(old, nil, new)) },
			plain: func(fd int) (string, error) { return none(unix.Linkat(fd, old, fd, new, 0)) },
		})
	}
	for _, p := range []string{"link/", "flink/", "dangling/", "link", "dir/..", "a/../c"} {
		add(dirCase{
			name:  fmt.Sprintf("Readlink(%q)", p),
			ours:  func(d *capfd.Dir) (string, error) { return d.Readlink(p) },
			plain: func(fd int) (string, error) { return semtest.Readlinkat(fd, p) },
		})
	}
	for _, p := range []string{
		"file/", "dir/", "full", "link/", "link", "flink/", "missing/", ".", "..", "dir/..", "a/../target", "a/../c",
	} {
		add(dirCase{
			name:  fmt.Sprintf("Remove(%q)", p),
			ours:  func(d *capfd.Dir) (string, error) { return none(d.Remove(p)) },
			plain: func(fd int) (string, error) { return none(plainRemove(fd, p)) },
		})
	}
	for _, p := range []string{"new/", "dir", "dir/", "file/", "link/", "dangling/", ".", "dir/..", "a/../new", "missing/new"} {
		add(dirCase{
			name:  fmt.Sprintf("Mkdir(%q)", p),
			ours:  func(d *capfd.Dir) (string, error) { return none(d.Mkdir(p, 0o755)) },
			plain: func(fd int) (string, error) { return none(unix.Mkdirat(fd, p, 0o755)) },
		})
	}
	for _, p := range []string{"new/", "file/", "dir/..", "a/../new"} {
		add(dirCase{
			name:  fmt.Sprintf("Symlink(%q)", p),
			ours:  func(d *capfd.Dir) (string, error) { return none(d.Symlink("t", p)) },
			plain: func(fd int) (string, error) { return none(unix.Symlinkat("t", fd, p)) },
		})
	}
	for _, p := range []string{"link/", "link", "flink/", "dangling/", "a/../target", "a/.."} {
		mode := func(st unix.Stat_t, err error) (string, error) {
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%o", st.Mode&unix.S_IFMT), nil
		}
		add(dirCase{
			name: fmt.Sprintf("Lstat(%q)", p),
			ours: func(d *capfd.Dir) (string, error) {
				fi, err := d.Lstat(p)
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("%o", fi.Sys().(*unix.Stat_t).Mode&unix.S_IFMT), nil
			},
			plain: func(fd int) (string, error) {
				var st unix.Stat_t
				return mode(st, unix.Fstatat(fd, p, &st, unix.AT_SYMLINK_NOFOLLOW))
			},
		})
	}
	// RemoveAll and MkdirAll against os.Root.
	for _, p := range []string{
		"a/../target", // b/target, never ./target
		"a/../sub",    // b/sub and its contents
		"full/", "file/", "link/", "missing", ".", "dir/.",
	} {
		add(dirCase{
			name: fmt.Sprintf("RemoveAll(%q)", p),
			ours: func(d *capfd.Dir) (string, error) { return none(d.RemoveAll(p)) },
			root: func(r *os.Root) (string, error) { return none(r.RemoveAll(p)) },
		})
	}
	for _, p := range []string{
		"x/y/z", "x/y/z/", "b/c", "b/c/new", "dir", "link", "link/new", "a/../q/r", "file", "file/x", "flink",
		"missing/.", "dir/../new", ".",
	} {
		add(dirCase{
			name: fmt.Sprintf("MkdirAll(%q)", p),
			ours: func(d *capfd.Dir) (string, error) { return none(d.MkdirAll(p, 0o755)) },
			root: func(r *os.Root) (string, error) { return none(r.MkdirAll(p, 0o755)) },
		})
	}
	return cases
}

func TestDirPathSemantics(t *testing.T) {
	for _, res := range []struct {
		name  string
		force bool
	}{{"openat2", false}, {"fallback", true}} {
		t.Run(res.name, func(t *testing.T) {
			if res.force {
				prev := vfsops.ForceFallback(true)
				t.Cleanup(func() { vfsops.ForceFallback(prev) })
			}
			for _, tr := range pathTransports() {
				for _, tc := range dirCases() {
					t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
						refRoot, ourRoot := semtest.Roots(t)
						var wantOut string
						var wantErr error
						if tc.plain != nil {
							fd, err := unix.Open(refRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
							if err != nil {
								t.Fatal(err)
							}
							wantOut, wantErr = tc.plain(fd)
							unix.Close(fd)
						} else {
							r, err := os.OpenRoot(refRoot)
							if err != nil {
								t.Fatal(err)
							}
							wantOut, wantErr = tc.root(r)
							r.Close()
						}
						d := tr.open(t, ourRoot, rights.Uniform(rights.All))
						gotOut, gotErr := tc.ours(d)
						semtest.SameError(t, gotErr, wantErr)
						if gotOut != wantOut {
							t.Errorf("result %q, reference %q", gotOut, wantOut)
						}
						semtest.SameTree(t, ourRoot, refRoot)
					})
				}
			}
		})
	}
}

// TestRemoveAllFinalDotDot: RemoveAll refuses a final "..", as it refuses
// a final ".": "dir/.." is the Dir itself. (os.Root.RemoveAll resolves
// "a/.." and removes what it names.)
func TestRemoveAllFinalDotDot(t *testing.T) {
	for _, tr := range pathTransports() {
		t.Run(tr.name, func(t *testing.T) {
			root := t.TempDir()
			semtest.Tree(t, root)
			before := semtest.Names(t, root)
			d := tr.open(t, root, rights.Uniform(rights.All))
			for _, p := range []string{"..", "dir/..", "a/..", "a/../", "/"} {
				if err := d.RemoveAll(p); !errors.Is(err, unix.EINVAL) {
					t.Errorf("RemoveAll(%q) = %v, want EINVAL", p, err)
				}
			}
			if after := semtest.Names(t, root); after != before {
				t.Fatalf("tree changed:\n%s", after)
			}
		})
	}
}

// TestReadDirResolvesDotDot: ReadDir("a/..") with a -> b/c reads b, as
// the kernel resolves it; only a name that is "." without any ".." reads
// the Dir itself.
func TestReadDirResolvesDotDot(t *testing.T) {
	for _, tr := range pathTransports() {
		t.Run(tr.name, func(t *testing.T) {
			root := t.TempDir()
			semtest.Tree(t, root)
			d := tr.open(t, root, rights.Uniform(rights.All))
			names := func(p string) string {
				ents, err := d.ReadDir(p)
				if err != nil {
					t.Fatalf("ReadDir(%q): %v", p, err)
				}
				var out []string
				for _, e := range ents {
					out = append(out, e.Name())
				}
				return strings.Join(out, " ")
			}
			if got := names("a/.."); got != "c sub target" {
				t.Errorf("ReadDir(a/..) = %q, want b's entries", got)
			}
			if got, want := names("./."), names("."); got != want {
				t.Errorf("ReadDir(./.) = %q, want %q", got, want)
			}
		})
	}
}

// TestMkdirAllConfined: MkdirAll resolves every step beneath the Dir and
// needs Mkdir's rights where it creates, on every transport.
func TestMkdirAllConfined(t *testing.T) {
	for _, tr := range pathTransports() {
		t.Run(tr.name, func(t *testing.T) {
			tmp := t.TempDir()
			root, outside := filepath.Join(tmp, "root"), filepath.Join(tmp, "outside")
			for _, p := range []string{filepath.Join(root, "exists", "deeper"), outside} {
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("../outside", filepath.Join(root, "esc")); err != nil {
				t.Fatal(err)
			}
			d := tr.open(t, root, rights.Uniform(rights.All))
			if err := d.MkdirAll("a/b/c", 0o750); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(root, "a/b/c")); err != nil || !fi.IsDir() {
				t.Fatalf("a/b/c: %v, %v", fi, err)
			}
			if err := d.MkdirAll("a/b/c", 0o750); err != nil {
				t.Fatalf("again: %v", err)
			}
			for _, p := range []string{"esc/new", "esc/new/deeper", "../outside/new", "a/../../outside/new", "/new"} {
				if err := d.MkdirAll(p, 0o755); !errors.Is(err, capfd.ErrEscape) {
					t.Errorf("MkdirAll(%q) = %v, want ErrEscape", p, err)
				}
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("MkdirAll made %v outside", ents)
			}
			// Without mkdir: what exists is fine, what would be made is
			// refused.
			ro := tr.open(t, root, rights.Uniform(rights.All&^rights.Mkdir))
			if err := ro.MkdirAll("exists/deeper", 0o755); err != nil {
				t.Errorf("MkdirAll of existing directories without mkdir: %v", err)
			}
			err := ro.MkdirAll("exists/new/more", 0o755)
			var capErr *capfd.Error
			if !errors.Is(err, capfd.ErrNotCapable) || !errors.As(err, &capErr) || capErr.Needed&rights.Mkdir == 0 {
				t.Errorf("MkdirAll without mkdir: %v, want ErrNotCapable needing mkdir", err)
			}
			if _, err := os.Lstat(filepath.Join(root, "exists/new")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused MkdirAll made exists/new: %v", err)
			}
		})
	}
}
