package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// escapeFixture is a directory tree with every kind of way out of it.
type escapeFixture struct {
	tmp, root string
	rootfd    int
	secret    string // a file outside the root
	secretFd  int    // an fd of it, for /proc/self/fd/N
	// Why there is no procfs or tmpfs mounted inside the root, if not.
	noProc, noTmpfs error
}

func newEscapeFixture(t *testing.T) *escapeFixture {
	t.Helper()
	tmp := t.TempDir()
	f := &escapeFixture{tmp: tmp, root: filepath.Join(tmp, "root"), secret: filepath.Join(tmp, "outside", "secret")}
	mustWrite(t, f.secret, "secret")
	mustWrite(t, filepath.Join(f.root, "file"), "file")
	mustWrite(t, filepath.Join(f.root, "a", "b", "f"), "f")
	r := func(name string) string { return filepath.Join(f.root, name) }
	mustSymlink(t, "../outside/secret", r("up"))
	mustSymlink(t, "../outside", r("updir"))
	mustSymlink(t, f.secret, r("abs"))
	mustSymlink(t, "/a/b/f", r("absin"))
	mustSymlink(t, "loop2", r("loop1"))
	mustSymlink(t, "loop1", r("loop2"))
	mustSymlink(t, "a/b/f", r("rel"))
	if err := os.Link(f.secret, r("hard")); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(f.secret, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	f.secretFd = fd
	n := strconv.Itoa(fd)
	mustSymlink(t, "proc/self/fd/"+n, r("pfd"))
	mustSymlink(t, "/proc/self/fd/"+n, r("pfdabs"))
	mustSymlink(t, "proc/self/root", r("pself"))
	// Mount points last: a procfs inside the tree makes magic links
	// reachable by relative paths, a tmpfs gives NoXDev a mount to refuse.
	f.noProc = tryMount(t, "proc", r("proc"))
	f.noTmpfs = tryMount(t, "tmpfs", r("mnt"))
	mustWrite(t, r("mnt/x"), "x")
	f.rootfd = openDir(t, f.root)
	return f
}

func TestEscapes(t *testing.T) {
	f := newEscapeFixture(t)
	n := strconv.Itoa(f.secretFd)
	type row struct {
		name  string
		path  string
		how   Resolve
		flags int
		// Exactly one of wantErr (an error errors.Is must match) and
		// wantFile (the file the open must reach) is set.
		wantErr  error
		wantFile string
		// notErr must not match: ELOOP rows are not escapes.
		notErr error
		// unprotected is the outside file a plain openat(rootfd, path)
		// reaches: proof the row is a real escape that the protection
		// stops, not a path that fails anyway.
		unprotected string
		// needs names the mount the row depends on: "proc" or "tmpfs".
		needs string
	}
	rows := []row{
		{name: "dotdot", path: "..", wantErr: ErrEscape, unprotected: f.tmp},
		{name: "dotdot-file", path: "../outside/secret", wantErr: ErrEscape, unprotected: f.secret},
		{name: "inner-dotdot", path: "a/../../outside/secret", wantErr: ErrEscape, unprotected: f.secret},
		{name: "absolute-path", path: f.secret, wantErr: ErrEscape, unprotected: f.secret},
		{name: "absolute-symlink", path: "abs", wantErr: ErrEscape, unprotected: f.secret},
		{name: "relative-symlink-out", path: "up", wantErr: ErrEscape, unprotected: f.secret},
		{name: "symlink-dir-out", path: "updir/secret", wantErr: ErrEscape, unprotected: f.secret},
		{name: "magic-fd", path: "proc/self/fd/" + n, wantErr: ErrEscape, unprotected: f.secret, needs: "proc"},
		{name: "magic-fd-via-symlink", path: "pfd", wantErr: ErrEscape, unprotected: f.secret, needs: "proc"},
		{name: "magic-fd-via-absolute-symlink", path: "pfdabs", wantErr: ErrEscape, unprotected: f.secret},
		{name: "magic-root", path: "proc/self/root" + f.secret, wantErr: ErrEscape, unprotected: f.secret, needs: "proc"},
		{name: "magic-root-via-symlink", path: "pself" + f.secret, wantErr: ErrEscape, unprotected: f.secret, needs: "proc"},
		{name: "magic-fd-in-root", path: "pfd", how: InRoot, wantErr: ErrEscape, unprotected: f.secret, needs: "proc"},
		{name: "symlink-loop", path: "loop1", wantErr: unix.ELOOP, notErr: ErrEscape},
		{name: "no-symlinks", path: "rel", how: NoSymlinks, wantErr: unix.ELOOP, notErr: ErrEscape},
		{name: "nofollow-last", path: "rel", flags: unix.O_NOFOLLOW, wantErr: unix.ELOOP, notErr: ErrEscape},
		{name: "no-xdev-into-mount", path: "mnt/x", how: NoXDev, wantErr: ErrEscape, needs: "tmpfs"},
		{name: "no-xdev-mountpoint", path: "mnt", how: NoXDev, wantErr: ErrEscape, needs: "tmpfs"},
		{name: "trailing-slash-file", path: "file/", wantErr: unix.ENOTDIR},
		{name: "empty", path: "", wantErr: ErrBadName},
		{name: "nul", path: "a\x00b", wantErr: ErrBadName},
		// In-root semantics: ".." and absolute names stay inside.
		{name: "in-root-dotdot", path: "../../file", how: InRoot, wantFile: "file", unprotected: ""},
		{name: "in-root-absolute", path: "/a/b/f", how: InRoot, wantFile: "a/b/f"},
		{name: "in-root-absolute-symlink", path: "absin", how: InRoot, wantFile: "a/b/f"},
		{name: "beneath-absolute-symlink", path: "absin", wantErr: ErrEscape},
		{name: "in-root-outside-symlink-stays-inside", path: "abs", how: InRoot, wantErr: unix.ENOENT, unprotected: f.secret},
		{name: "in-root-dotdot-stays-inside", path: "../outside/secret", how: InRoot, wantErr: unix.ENOENT, unprotected: f.secret},
		// Paths that stay inside work.
		{name: "inside", path: "a/b/f", wantFile: "a/b/f"},
		{name: "inside-dotdot", path: "a/b/../../file", wantFile: "file"},
		{name: "inside-symlink", path: "rel", wantFile: "a/b/f"},
		{name: "inside-mount", path: "mnt/x", wantFile: "mnt/x", needs: "tmpfs"},
		{name: "dir-trailing-slash", path: "a/b/", flags: unix.O_DIRECTORY, wantFile: "a/b"},
		{name: "dot", path: ".", flags: unix.O_DIRECTORY, wantFile: "."},
		// A hard link to an outside file is an ordinary name inside the
		// tree: resolution cannot and does not refuse it. What the holder
		// may do with the file is governed by rights, not resolution; that
		// is why capfd handles carry rights and not just a directory.
		{name: "hard-link-is-reachable", path: "hard", wantFile: f.secret},
	}
	for _, res := range resolvers {
		for _, tc := range rows {
			t.Run(res.name+"/"+tc.name, func(t *testing.T) {
				if tc.needs == "proc" && f.noProc != nil {
					t.Skip(f.noProc)
				}
				if tc.needs == "tmpfs" && f.noTmpfs != nil {
					t.Skip(f.noTmpfs)
				}
				if tc.unprotected != "" {
					fd, err := unix.Openat(f.rootfd, tc.path, tc.flags|unix.O_PATH|unix.O_CLOEXEC, 0)
					if err != nil {
						t.Fatalf("unprotected openat %q: %v (the row is not a real escape)", tc.path, err)
					}
					got, want := fdID(t, fd), pathID(t, tc.unprotected)
					unix.Close(fd)
					if got != want {
						t.Fatalf("unprotected openat %q reached %v, want %s %v", tc.path, got, tc.unprotected, want)
					}
				}
				flags := tc.flags
				if flags&unix.O_DIRECTORY == 0 {
					flags |= unix.O_RDONLY
				}
				fd, err := OpenBeneath(f.rootfd, tc.path, flags, 0, tc.how|res.how)
				if tc.wantErr != nil {
					if err == nil {
						got := fdID(t, fd)
						unix.Close(fd)
						t.Fatalf("OpenBeneath(%q, %v) succeeded (reached %v), want %v", tc.path, tc.how, got, tc.wantErr)
					}
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("OpenBeneath(%q, %v) = %v, want %v", tc.path, tc.how, err, tc.wantErr)
					}
					if tc.notErr != nil && errors.Is(err, tc.notErr) {
						t.Fatalf("OpenBeneath(%q, %v) = %v, must not match %v", tc.path, tc.how, err, tc.notErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("OpenBeneath(%q, %v): %v", tc.path, tc.how, err)
				}
				defer unix.Close(fd)
				want := tc.wantFile
				if !filepath.IsAbs(want) {
					want = filepath.Join(f.root, want)
				}
				if got, wantID := fdID(t, fd), pathID(t, want); got != wantID {
					t.Fatalf("OpenBeneath(%q) reached %v, want %s %v", tc.path, got, want, wantID)
				}
			})
		}
	}
}

// Modes openat ignores (no O_CREAT, or file-type bits) must not make the
// openat2 path fail where the walker, like openat, succeeds.
func TestOpenModeLeniency(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "x")
	dirfd := openDir(t, dir)
	for _, res := range resolvers {
		fd, err := OpenBeneath(dirfd, "f", unix.O_RDONLY, 0o644, res.how)
		if err != nil {
			t.Fatalf("%s: mode without O_CREAT: %v", res.name, err)
		}
		unix.Close(fd)
		fd, err = OpenBeneath(dirfd, "new-"+res.name, unix.O_WRONLY|unix.O_CREAT, unix.S_IFREG|0o600, res.how)
		if err != nil {
			t.Fatalf("%s: mode with S_IFREG: %v", res.name, err)
		}
		unix.Close(fd)
		if fi, err := os.Stat(filepath.Join(dir, "new-"+res.name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: created %v %v", res.name, fi, err)
		}
	}
}
