package vfsops

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// resolvers runs a test against both resolution strategies: every test of
// resolution behaviour runs once with openat2 and once with the fallback
// walker, from the same table.
var resolvers = []struct {
	name string
	how  Resolve
}{
	{"openat2", 0},
	{"fallback", forceWalk},
}

// openDir opens path as an O_PATH directory fd, closed at cleanup.
func openDir(t testing.TB, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func mustWrite(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

type devIno struct{ dev, ino uint64 }

func fdID(t testing.TB, fd int) devIno {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat %d: %v", fd, err)
	}
	return devIno{st.Dev, st.Ino}
}

func pathID(t testing.TB, path string) devIno {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return devIno{st.Dev, st.Ino}
}

// countFds returns the number of open fds of this process.
func countFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // ReadDir's own fd
}

// mountOrSkip mounts fstype at target, unmounted at cleanup. It skips the
// test only where mounting is not permitted (not root, or in a sandbox).
func mountOrSkip(t testing.TB, fstype, target string) {
	t.Helper()
	if err := tryMount(t, fstype, target); err != nil {
		t.Skip(err)
	}
}

// tryMount mounts fstype at target, unmounted at cleanup, and returns an
// error (for a skip message) only if mounting is not permitted.
func tryMount(t testing.TB, fstype, target string) error {
	t.Helper()
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(fstype, target, fstype, 0, ""); err != nil {
		if err == unix.EPERM || err == unix.EACCES {
			return fmt.Errorf("mounting %s needs CAP_SYS_ADMIN: %v", fstype, err)
		}
		t.Fatalf("mount %s on %s: %v", fstype, target, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	return nil
}

// chownPermitted reports whether this process may give files to other
// users (CAP_CHOWN); tests of chown to another uid need it.
func chownPermitted() bool { return unix.Geteuid() == 0 }
