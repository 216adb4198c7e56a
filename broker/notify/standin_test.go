package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// TestOPath runs what programs do with O_PATH descriptors (rsync walks
// down from "/", gnulib's lchmod looks at a symlink through one, tar keeps
// directories open with them), unconfined and confined. Where the rights
// allow, the answers are the direct run's; the upgrades an O_PATH
// descriptor must not give (reading a file the grant gives no read on,
// listing a directory it gives no readdir on, or the skeleton) work
// unconfined and are refused confined. secret is granted for lookup and
// stat only.
func TestOPath(t *testing.T) {
	requireNotify(t)
	root := tree(t)
	data, rw, secret := filepath.Join(root, "data"), filepath.Join(root, "rw"), filepath.Join(root, "secret")
	grants := append(grantsFor(root), Grant{Path: secret, Rights: rights.Uniform(rights.Lookup | rights.Stat)})
	cases := []struct {
		name, step      string
		plain, confined string
	}{
		{"walk from / to a granted file", "walk:" + data + ":hello.txt", "ok hello", "ok hello"},
		{"walk from / beneath a grant", "walk:" + data + "/sub:inner.txt", "ok inner", "ok inner"},
		{"walk from / out of the grants", "walk:" + root + "/nosuch:x", "nosuch ENOENT", "nosuch ENOENT"},
		{"the skeleton's /", "opath:/:dir:fstat", "ok mode=40000 size=4096", ""},
		{"the skeleton's / is itself", "opath:/:dir:same", "ok same=true", "ok same=true"},
		{"an ancestor is itself", "opath:" + root + "::same", "ok same=true", "ok same=true"},
		{"an ancestor's .. through its grant", "opath:" + data + "/..::same", "ok same=true", "ok same=true"},
		// A stand-in directory is removed: listing it answers ENOENT.
		{"list the skeleton through O_PATH", "opath:" + root + "::list", "EBADF", "ENOENT"},
		{"read the skeleton through O_PATH", "opath:" + root + "::read", "read EBADF", "read EISDIR"},
		{"outside every grant", "opath:" + root + "/nosuch::", "ENOENT", "ENOENT"},
		{"a granted file", "opath:" + data + "/hello.txt::same", "ok same=true", "ok same=true"},
		{"a symlink itself", "opath:" + data + "/in-link:nofollow:fstat", "ok mode=120000 size=13", "ok mode=120000 size=13"},
		{"a symlink is itself", "opath:" + data + "/in-link:nofollow:same", "ok same=true", "ok same=true"},
		{"readlink through O_PATH", "opath:" + data + "/in-link:nofollow:readlink", "ok sub/inner.txt", "ok sub/inner.txt"},
		{"lchmod of a symlink", "opath:" + rw + "/link:nofollow:chmodproc", "ENOTSUP", "ENOTSUP"},
		{"lchmod of a symlink without chmod", "opath:" + data + "/in-link:nofollow:chmodproc", "ENOTSUP", "EACCES"},
		{"an escaping symlink itself", "opath:" + data + "/out-abs:nofollow:readlink", "ok " + secret + "/s.txt", "ok " + secret + "/s.txt"},
		{"an escaping symlink followed", "opath:" + rw + "/out::", "ok", "ENOENT"},
		{"fchmod is EBADF", "opath:" + secret + "/s.txt::fchmod", "EBADF", "EBADF"},
		{"a file without read", "opath:" + secret + "/s.txt::fstat", "ok mode=100000 size=7", "ok mode=100000 size=7"},
		{"read a file without read", "opath:" + secret + "/s.txt::read", "read EBADF", "ok"},
		{"upgrade through /proc/self/fd", "opath:" + secret + "/s.txt::reopen", "ok secret", "EACCES"},
		{"chmod through /proc/self/fd", "opath:" + secret + "/s.txt::chmodproc", "ok", "EACCES"},
		{"list a directory without readdir", "opath:" + secret + "::list", "EBADF", "ENOENT"},
		{"open beneath a dir without read", "opath:" + secret + "::at:s.txt", "ok secret", "EACCES"},
		{"upgrade a symlink to its target", "opath:" + data + "/in-link:nofollow:reopen", "ELOOP", "ELOOP"},
		// fchdir last: it moves the cwd of the steps after it.
		{"fchdir into a dir without read", "opath:" + secret + "::fchdir:s.txt", "ok secret", "EACCES"},
		{"fchdir into the skeleton", "opath:" + root + "::fchdir:data/hello.txt", "ok hello", "ok hello"},
	}
	steps := make([]string, len(cases))
	for i, c := range cases {
		steps[i] = c.step
	}
	plainRoot := tree(t)
	for _, r := range []string{root, plainRoot} {
		// A symlink in a grant with chmod, and one out of every grant.
		if err := os.Symlink("file", filepath.Join(r, "rw/link")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(r, "hidden"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(r, "hidden"), filepath.Join(r, "rw/out")); err != nil {
			t.Fatal(err)
		}
	}
	plainSteps := make([]string, len(steps))
	for i, s := range steps {
		plainSteps[i] = strings.ReplaceAll(s, root, plainRoot)
	}
	plain, _ := runChild(t, nil, true, filepath.Join(plainRoot, "data"), plainSteps...)
	runChild(t, grants, false, data, "opath:"+data+"::") // warm-up: the procfs handle
	fds := openFds(t)
	confined, log := runChild(t, grants, false, data, steps...)
	if after := openFds(t); after != fds {
		t.Errorf("the supervisor leaked descriptors: %d open before, %d after", fds, after)
	}
	for i, c := range cases {
		if got := strings.ReplaceAll(plain[i], plainRoot, root); got != c.plain {
			t.Errorf("%s: unconfined %q: got %q, want %q", c.name, c.step, got, c.plain)
		}
		want := c.confined
		if want == "" {
			want = strings.ReplaceAll(plain[i], plainRoot, root)
		}
		if confined[i] != want {
			t.Errorf("%s: confined %q: got %q, want %q", c.name, c.step, confined[i], want)
		}
	}
	if t.Failed() {
		t.Logf("supervisor log:\n%s", log)
	}
	if st, err := os.Stat(filepath.Join(secret, "s.txt")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("s.txt's mode changed under a grant without chmod: %v, %v", st, err)
	}
}

// The store of stand-ins stays empty, a stand-in's name reads back as the
// path it stands for, and no other descriptor (one whose name merely has
// the store's form) is taken for one.
func TestStandinStore(t *testing.T) {
	root := tree(t)
	tab, err := openGrants(grantsFor(root))
	if err != nil {
		t.Fatal(err)
	}
	defer tab.close()
	s := openStandins(tab)
	if s == nil {
		t.Fatal("no stand-in store could be made")
	}
	defer s.close()
	for _, c := range []struct {
		abs   string
		isDir bool
	}{{"/", true}, {root, true}, {root + "/data/in-link", false}, {root + "/x y (deleted)", false}} {
		fd, err := s.make(c.abs, c.isDir)
		if err != nil {
			t.Fatalf("make(%q): %v", c.abs, err)
		}
		got, ok := s.of(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		if !ok || got != c.abs {
			t.Errorf("stand-in for %q reads back as %q, %v", c.abs, got, ok)
		}
		if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir != c.isDir || st.Size != 0 && !isDir {
			t.Errorf("stand-in for %q: mode %o size %d", c.abs, st.Mode, st.Size)
		}
		if left, _ := os.ReadDir(s.dir); len(left) != 0 {
			t.Errorf("the store is not empty after a stand-in for %q: %v", c.abs, left)
		}
	}
	if _, err := s.make("relative", false); err == nil {
		t.Error("a stand-in for a relative path was made")
	}
	// A file elsewhere whose name has the store's form is not a stand-in.
	forged := filepath.Join(root, "rw", "7", "etc")
	if err := os.MkdirAll(forged, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(forged, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if abs, ok := s.of(fd); ok {
		t.Errorf("a directory outside the store was taken for a stand-in of %q", abs)
	}
	if abs, ok := s.realName(s.dir + "/x/etc (deleted)"); ok {
		t.Errorf("a name without the store's number was read as %q", abs)
	}
}
