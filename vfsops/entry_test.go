package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// entryFixture is a fresh small tree per test case.
type entryFixture struct {
	root, outside string
	rootfd        int
}

func newEntryFixture(t *testing.T) *entryFixture {
	t.Helper()
	tmp := t.TempDir()
	f := &entryFixture{root: filepath.Join(tmp, "root"), outside: filepath.Join(tmp, "outside")}
	mustWrite(t, filepath.Join(f.outside, "secret"), "secret")
	mustWrite(t, filepath.Join(f.root, "file"), "file")
	mustWrite(t, filepath.Join(f.root, "a", "b", "f"), "f")
	mustSymlink(t, "../outside/secret", filepath.Join(f.root, "up"))
	mustSymlink(t, "../outside", filepath.Join(f.root, "updir"))
	mustSymlink(t, filepath.Join(f.outside, "secret"), filepath.Join(f.root, "abs"))
	mustSymlink(t, "a/b/f", filepath.Join(f.root, "rel"))
	if err := os.Chmod(filepath.Join(f.outside, "secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.rootfd = openDir(t, f.root)
	return f
}

func (f *entryFixture) in(name string) string  { return filepath.Join(f.root, name) }
func (f *entryFixture) out(name string) string { return filepath.Join(f.outside, name) }

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// TestEntryOpsRefuseEscapes: each entry operation, aimed outside the root.
// The plain *at system call on the same path does the damage (shown first,
// then undone); the vfsops operation refuses with ErrEscape and leaves the
// outside alone.
func TestEntryOpsRefuseEscapes(t *testing.T) {
	ts := unix.Timespec{Sec: 1_000_000}
	rows := []struct {
		name    string
		ours    func(f *entryFixture, how Resolve) error
		plain   func(f *entryFixture) error
		damaged func(t *testing.T, f *entryFixture) bool
	}{
		{
			name:    "mkdir-dotdot",
			ours:    func(f *entryFixture, how Resolve) error { return Mkdir(f.rootfd, "../outside/new", 0o755, how) },
			plain:   func(f *entryFixture) error { return unix.Mkdirat(f.rootfd, "../outside/new", 0o755) },
			damaged: func(t *testing.T, f *entryFixture) bool { return exists(f.out("new")) },
		},
		{
			name:    "mkdir-via-symlink",
			ours:    func(f *entryFixture, how Resolve) error { return Mkdir(f.rootfd, "updir/new", 0o755, how) },
			plain:   func(f *entryFixture) error { return unix.Mkdirat(f.rootfd, "updir/new", 0o755) },
			damaged: func(t *testing.T, f *entryFixture) bool { return exists(f.out("new")) },
		},
		{
			name:    "unlink-via-symlink",
			ours:    func(f *entryFixture, how Resolve) error { return Unlink(f.rootfd, "updir/secret", how) },
			plain:   func(f *entryFixture) error { return unix.Unlinkat(f.rootfd, "updir/secret", 0) },
			damaged: func(t *testing.T, f *entryFixture) bool { return !exists(f.out("secret")) },
		},
		{
			name: "rmdir-dotdot",
			ours: func(f *entryFixture, how Resolve) error {
				os.Mkdir(f.out("empty"), 0o755)
				return Rmdir(f.rootfd, "a/../../outside/empty", how)
			},
			plain: func(f *entryFixture) error {
				os.Mkdir(f.out("empty"), 0o755)
				return unix.Unlinkat(f.rootfd, "a/../../outside/empty", unix.AT_REMOVEDIR)
			},
			damaged: func(t *testing.T, f *entryFixture) bool { return !exists(f.out("empty")) },
		},
		{
			name: "rename-out",
			ours: func(f *entryFixture, how Resolve) error {
				return Rename(f.rootfd, "file", f.rootfd, "updir/dropped", how)
			},
			plain:   func(f *entryFixture) error { return unix.Renameat(f.rootfd, "file", f.rootfd, "updir/dropped") },
			damaged: func(t *testing.T, f *entryFixture) bool { return exists(f.out("dropped")) },
		},
		{
			name: "rename-in",
			ours: func(f *entryFixture, how Resolve) error {
				return Rename(f.rootfd, "updir/secret", f.rootfd, "stolen", how)
			},
			plain:   func(f *entryFixture) error { return unix.Renameat(f.rootfd, "updir/secret", f.rootfd, "stolen") },
			damaged: func(t *testing.T, f *entryFixture) bool { return exists(f.in("stolen")) },
		},
		{
			name: "link-in",
			ours: func(f *entryFixture, how Resolve) error {
				return Link(f.rootfd, "updir/secret", f.rootfd, "stolen", how)
			},
			plain:   func(f *entryFixture) error { return unix.Linkat(f.rootfd, "updir/secret", f.rootfd, "stolen", 0) },
			damaged: func(t *testing.T, f *entryFixture) bool { return exists(f.in("stolen")) },
		},
		{
			name:    "symlink-out",
			ours:    func(f *entryFixture, how Resolve) error { return Symlink("x", f.rootfd, "updir/planted", how) },
			plain:   func(f *entryFixture) error { return unix.Symlinkat("x", f.rootfd, "updir/planted") },
			damaged: func(t *testing.T, f *entryFixture) bool { return exists(f.out("planted")) },
		},
		{
			name: "readlink-out",
			ours: func(f *entryFixture, how Resolve) error {
				os.Symlink("leaked", f.out("link"))
				_, err := Readlink(f.rootfd, "updir/link", how)
				return err
			},
		},
		{
			name: "stat-follow-out",
			ours: func(f *entryFixture, how Resolve) error { _, err := Stat(f.rootfd, "up", how, true); return err },
		},
		{
			name:    "chmod-absolute-symlink",
			ours:    func(f *entryFixture, how Resolve) error { return Chmod(f.rootfd, "abs", 0o600, how) },
			plain:   func(f *entryFixture) error { return unix.Fchmodat(f.rootfd, "abs", 0o600, 0) },
			damaged: func(t *testing.T, f *entryFixture) bool { return modeOf(t, f.out("secret")).Perm() == 0o600 },
		},
		{
			name:  "chown-follow-out",
			ours:  func(f *entryFixture, how Resolve) error { return Chown(f.rootfd, "up", 4242, -1, how, true) },
			plain: func(f *entryFixture) error { return unix.Fchownat(f.rootfd, "up", 4242, -1, 0) },
			damaged: func(t *testing.T, f *entryFixture) bool {
				fi, _ := os.Stat(f.out("secret"))
				return fi.Sys().(*syscall.Stat_t).Uid == 4242
			},
		},
		{
			name: "chtimes-follow-out",
			ours: func(f *entryFixture, how Resolve) error { return Chtimes(f.rootfd, "up", ts, ts, how, true) },
			plain: func(f *entryFixture) error {
				return unix.UtimesNanoAt(f.rootfd, "up", []unix.Timespec{ts, ts}, 0)
			},
			damaged: func(t *testing.T, f *entryFixture) bool {
				fi, _ := os.Stat(f.out("secret"))
				return fi.ModTime().Unix() == ts.Sec
			},
		},
	}
	for _, res := range resolvers {
		for _, tc := range rows {
			t.Run(res.name+"/"+tc.name, func(t *testing.T) {
				if tc.name == "chown-follow-out" && !chownPermitted() {
					t.Skip("chown to another user needs CAP_CHOWN")
				}
				if tc.plain != nil {
					f := newEntryFixture(t)
					if err := tc.plain(f); err != nil {
						t.Fatalf("plain *at call failed (%v): the row is not a real escape", err)
					}
					if !tc.damaged(t, f) {
						t.Fatal("plain *at call did not reach outside: the row is not a real escape")
					}
				}
				f := newEntryFixture(t)
				err := tc.ours(f, res.how)
				if !errors.Is(err, ErrEscape) {
					t.Fatalf("got %v, want ErrEscape", err)
				}
				if tc.damaged != nil && tc.damaged(t, f) {
					t.Fatal("the outside was changed despite the error")
				}
			})
		}
	}
}

func TestEntryOpsInside(t *testing.T) {
	ts := unix.Timespec{Sec: 2_000_000}
	for _, res := range resolvers {
		t.Run(res.name, func(t *testing.T) {
			how := res.how
			f := newEntryFixture(t)
			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			must("mkdir", Mkdir(f.rootfd, "a/new", 0o750, how))
			if m := modeOf(t, f.in("a/new")); !m.IsDir() {
				t.Fatalf("mkdir made %v", m)
			}
			must("mkdir trailing slash", Mkdir(f.rootfd, "a/new2/", 0o750, how))
			must("rmdir", Rmdir(f.rootfd, "a/new2", how))
			must("symlink", Symlink("/etc/passwd", f.rootfd, "a/new/link", how))
			target, err := Readlink(f.rootfd, "a/new/link", how)
			must("readlink", err)
			if target != "/etc/passwd" {
				t.Fatalf("readlink = %q: the target must be stored verbatim", target)
			}
			must("link", Link(f.rootfd, "a/b/f", f.rootfd, "a/new/hard", how))
			if pathID(t, f.in("a/b/f")) != pathID(t, f.in("a/new/hard")) {
				t.Fatal("link did not make a hard link")
			}
			must("link of a symlink links the symlink", Link(f.rootfd, "up", f.rootfd, "up2", how))
			if m := modeOf(t, f.in("up2")); m&os.ModeSymlink == 0 {
				t.Fatalf("link of a symlink made %v", m)
			}
			must("rename", Rename(f.rootfd, "a/new/hard", f.rootfd, "moved", how))
			must("rename noreplace", RenameFlags(f.rootfd, "moved", f.rootfd, "moved2", unix.RENAME_NOREPLACE, how))
			if err := RenameFlags(f.rootfd, "moved2", f.rootfd, "file", unix.RENAME_NOREPLACE, how); !errors.Is(err, unix.EEXIST) {
				t.Fatalf("rename noreplace onto a file: %v, want EEXIST", err)
			}
			// Unlink of a symlink to the outside removes the link only.
			must("unlink symlink", Unlink(f.rootfd, "up", how))
			if exists(f.in("up")) || !exists(f.out("secret")) {
				t.Fatal("unlink of a symlink must remove the link, not the target")
			}
			if err := Unlink(f.rootfd, "a/b/", how); !errors.Is(err, unix.EISDIR) {
				t.Fatalf("unlink of a directory with trailing slash: %v, want EISDIR (unlink(2)'s answer)", err)
			}
			if err := Unlink(f.rootfd, "file/", how); !errors.Is(err, unix.ENOTDIR) {
				t.Fatalf("unlink of a file with trailing slash: %v, want ENOTDIR", err)
			}
			must("unlink", Unlink(f.rootfd, "moved2", how))

			// stat and lstat
			st, err := Stat(f.rootfd, "rel", how, true)
			must("stat", err)
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Fatalf("stat follows: mode %o", st.Mode)
			}
			st, err = Stat(f.rootfd, "rel", how, false)
			must("lstat", err)
			if st.Mode&unix.S_IFMT != unix.S_IFLNK {
				t.Fatalf("lstat does not follow: mode %o", st.Mode)
			}
			st, err = Stat(f.rootfd, "up2", how, false)
			must("lstat of an outward symlink", err)

			// chmod through a symlink changes the target, inside
			must("chmod", Chmod(f.rootfd, "rel", 0o600, how))
			if m := modeOf(t, f.in("a/b/f")); m.Perm() != 0o600 {
				t.Fatalf("chmod via symlink: %v", m)
			}
			// chown: follow changes the target, nofollow the link. Without
			// CAP_CHOWN, chown to one's own ids still exercises both paths.
			uid, gid, luid := 1234, 5678, 4321
			if !chownPermitted() {
				uid, gid, luid = os.Getuid(), os.Getgid(), os.Getuid()
			}
			must("chown", Chown(f.rootfd, "rel", uid, gid, how, true))
			must("lchown", Chown(f.rootfd, "up2", luid, -1, how, false))
			var sb unix.Stat_t
			unix.Stat(f.in("a/b/f"), &sb)
			if sb.Uid != uint32(uid) || sb.Gid != uint32(gid) {
				t.Fatalf("chown: %d:%d", sb.Uid, sb.Gid)
			}
			unix.Lstat(f.in("up2"), &sb)
			if sb.Uid != uint32(luid) {
				t.Fatalf("lchown: uid %d", sb.Uid)
			}
			unix.Stat(f.out("secret"), &sb)
			if chownPermitted() && sb.Uid == uint32(luid) {
				t.Fatal("lchown of an outward symlink changed the target")
			}
			// chtimes, both ways
			must("chtimes", Chtimes(f.rootfd, "rel", ts, ts, how, true))
			if fi, _ := os.Stat(f.in("a/b/f")); fi.ModTime().Unix() != ts.Sec {
				t.Fatalf("chtimes: %v", fi.ModTime())
			}
			must("lchtimes", Chtimes(f.rootfd, "up2", ts, ts, how, false))
			if fi, _ := os.Lstat(f.in("up2")); fi.ModTime().Unix() != ts.Sec {
				t.Fatalf("lchtimes: %v", fi.ModTime())
			}
		})
	}
}

func TestOpenParentBadNames(t *testing.T) {
	f := newEntryFixture(t)
	for _, res := range resolvers {
		for _, p := range []string{"", ".", "..", "a/..", "a/.", "/", "//", "a\x00b"} {
			how := res.how | InRoot // InRoot: "/" would otherwise be an escape
			if fd, _, err := OpenParent(f.rootfd, p, how); !errors.Is(err, ErrBadName) {
				unix.Close(fd)
				t.Errorf("%s: OpenParent(%q) = %v, want ErrBadName", res.name, p, err)
			}
		}
		for p, want := range map[string]string{"x": "x", "a/b/": "b", "a//b": "b", "/a/b": "b"} {
			fd, name, err := OpenParent(f.rootfd, p, res.how|InRoot)
			if err != nil || name != want {
				t.Errorf("%s: OpenParent(%q) = %q, %v; want %q", res.name, p, name, err, want)
				continue
			}
			unix.Close(fd)
		}
	}
}
