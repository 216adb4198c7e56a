package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// O_CREAT follows a dangling symlink in the last component (POSIX), so a
// planted dangling link is a classic way to make a privileged process create
// a file where the attacker wants. Beneath resolution must create inside or
// refuse.
func TestCreateThroughSymlinks(t *testing.T) {
	for _, res := range resolvers {
		t.Run(res.name, func(t *testing.T) {
			tmp := t.TempDir()
			root, outside := filepath.Join(tmp, "root"), filepath.Join(tmp, "outside")
			os.MkdirAll(filepath.Join(root, "sub"), 0o755)
			os.MkdirAll(outside, 0o755)
			mustSymlink(t, "../outside/planted", filepath.Join(root, "out"))
			mustSymlink(t, "sub/new", filepath.Join(root, "in"))
			mustSymlink(t, "/sub/abs", filepath.Join(root, "absin"))
			rootfd := openDir(t, root)
			create := unix.O_WRONLY | unix.O_CREAT

			// Without protection the dangling link creates outside.
			fd, err := unix.Openat(rootfd, "out", create|unix.O_CLOEXEC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			if !exists(filepath.Join(outside, "planted")) {
				t.Fatal("plain openat did not create outside: the case tests nothing")
			}
			os.Remove(filepath.Join(outside, "planted"))

			if fd, err := OpenBeneath(rootfd, "out", create, 0o644, res.how); !errors.Is(err, ErrEscape) {
				unix.Close(fd)
				t.Fatalf("O_CREAT through an outward dangling symlink: %v, want ErrEscape", err)
			}
			if exists(filepath.Join(outside, "planted")) {
				t.Fatal("a file was created outside")
			}
			// Inward dangling links create their target, inside.
			fd, err = OpenBeneath(rootfd, "in", create, 0o640, res.how)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			if fi, err := os.Lstat(filepath.Join(root, "sub", "new")); err != nil || fi.Mode().Perm() != 0o640 {
				t.Fatalf("created target: %v %v", fi, err)
			}
			// With InRoot an absolute dangling link creates inside too.
			fd, err = OpenBeneath(rootfd, "absin", create, 0o644, res.how|InRoot)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			if !exists(filepath.Join(root, "sub", "abs")) {
				t.Fatal("InRoot O_CREAT through an absolute symlink did not create inside")
			}
			// O_EXCL never follows a symlink.
			if fd, err := OpenBeneath(rootfd, "in", create|unix.O_EXCL, 0o644, res.how); !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				t.Fatalf("O_CREAT|O_EXCL on a symlink: %v, want EEXIST", err)
			}
			// O_NOFOLLOW refuses the link.
			if fd, err := OpenBeneath(rootfd, "in", create|unix.O_NOFOLLOW, 0o644, res.how); !errors.Is(err, unix.ELOOP) {
				unix.Close(fd)
				t.Fatalf("O_CREAT|O_NOFOLLOW on a symlink: %v, want ELOOP", err)
			}
			// O_TMPFILE in a directory beneath.
			fd, err = OpenBeneath(rootfd, "sub", unix.O_RDWR|unix.O_TMPFILE, 0o600, res.how)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
		})
	}
}

// The fallback cannot tell procfs's ordinary symlinks (/proc/self) from its
// magic links, so it refuses them all; openat2 knows and allows the
// ordinary ones. Stricter is the safe direction; this test pins the
// difference down so it is a decision, not an accident.
func TestFallbackRefusesEveryProcfsSymlink(t *testing.T) {
	dir := t.TempDir()
	mountOrSkip(t, "proc", filepath.Join(dir, "proc"))
	dirfd := openDir(t, dir)
	path := "proc/self/status"
	fd, err := OpenBeneath(dirfd, path, unix.O_RDONLY, 0, 0)
	if err != nil {
		t.Fatalf("openat2 refuses the ordinary procfs symlink self: %v", err)
	}
	unix.Close(fd)
	if fd, err := OpenBeneath(dirfd, path, unix.O_RDONLY, 0, forceWalk); !errors.Is(err, ErrEscape) {
		unix.Close(fd)
		t.Fatalf("fallback on %s: %v, want ErrEscape", path, err)
	}
	// Without symlinks on the way, procfs files are ordinary files.
	pid := strconv.Itoa(os.Getpid())
	for _, res := range resolvers {
		fd, err := OpenBeneath(dirfd, "proc/"+pid+"/status", unix.O_RDONLY, 0, res.how)
		if err != nil {
			t.Fatalf("%s: proc/PID/status: %v", res.name, err)
		}
		unix.Close(fd)
	}
}
