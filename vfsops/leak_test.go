package vfsops

import (
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNoFdLeaks runs a batch of operations, successes and failures of every
// kind, with both resolvers, and checks the process has exactly the fds it
// had before.
func TestNoFdLeaks(t *testing.T) {
	f := newEscapeFixture(t)
	if _, err := procRoot(); err != nil { // opened once, kept for good
		t.Fatal(err)
	}
	n := strconv.Itoa(f.secretFd)
	paths := []string{
		"a/b/f", "rel", "absin", "..", "../outside/secret", "a/../../outside/secret", f.secret,
		"abs", "up", "updir/secret", "loop1", "pfd", "pself", "proc/self/fd/" + n, "mnt/x",
		"file/", "missing/x", "a/b/missing", "a/b/", ".", "",
	}
	ts := unix.Timespec{Sec: 5}
	batch := func(how Resolve) {
		for _, p := range paths {
			for _, h := range []Resolve{how, how | InRoot, how | NoXDev, how | NoSymlinks} {
				for _, flags := range []int{unix.O_RDONLY, unix.O_PATH, unix.O_PATH | unix.O_NOFOLLOW, unix.O_DIRECTORY} {
					if fd, err := OpenBeneath(f.rootfd, p, flags, 0, h); err == nil {
						if r, err := Reopen(fd, unix.O_RDONLY|unix.O_NONBLOCK); err == nil {
							unix.Close(r)
						}
						unix.Close(fd)
					}
				}
				Stat(f.rootfd, p, h, true)
				Stat(f.rootfd, p, h, false)
				Readlink(f.rootfd, p, h)
				Chtimes(f.rootfd, p, ts, ts, h, false)
				if fd, _, err := OpenParent(f.rootfd, p, h); err == nil {
					unix.Close(fd)
				}
			}
		}
		Mkdir(f.rootfd, "tmpdir", 0o755, how)
		Mkdir(f.rootfd, "tmpdir", 0o755, how) // EEXIST
		Symlink("x", f.rootfd, "tmpdir/l", how)
		Link(f.rootfd, "file", f.rootfd, "tmpdir/h", how)
		Link(f.rootfd, "../outside/secret", f.rootfd, "tmpdir/h2", how)
		Rename(f.rootfd, "tmpdir/h", f.rootfd, "tmpdir/h3", how)
		Rename(f.rootfd, "tmpdir/h3", f.rootfd, "up/x", how)
		Unlink(f.rootfd, "tmpdir/h3", how)
		Unlink(f.rootfd, "tmpdir/l", how)
		Rmdir(f.rootfd, "tmpdir", how)
		Rmdir(f.rootfd, "updir", how)
		Chmod(f.rootfd, "abs", 0o644, how)
		Chown(f.rootfd, "missing", 0, 0, how, true)
	}
	// Warm up: lazy initialisation (procfs handle, Go runtime fds) must not
	// count as a leak.
	batch(0)
	batch(forceWalk)
	for _, res := range resolvers {
		before := countFds(t)
		batch(res.how)
		if after := countFds(t); after != before {
			t.Errorf("%s: %d fds before the batch, %d after", res.name, before, after)
		}
	}
}

// TestFallbackDeepWalkNoLeak: a 64-component walk (and its final beneath
// check, 64 ".." steps) leaves exactly the result fd behind.
func TestFallbackDeepWalkNoLeak(t *testing.T) {
	dir := t.TempDir()
	deep := ""
	for i := 0; i < 64; i++ {
		deep = filepath.Join(deep, "d")
	}
	mustWrite(t, filepath.Join(dir, deep, "f"), "x")
	dirfd := openDir(t, dir)
	before := countFds(t)
	fd, err := OpenBeneath(dirfd, deep+"/f", unix.O_RDONLY, 0, forceWalk)
	if err != nil {
		t.Fatal(err)
	}
	if after := countFds(t); after != before+1 {
		t.Errorf("walker left %d extra fds open, want just the result", after-before-1)
	}
	unix.Close(fd)
}
