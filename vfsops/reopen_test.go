package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/internal/childtest"
	"golang.org/x/sys/unix"
)

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "hello")
	mustWrite(t, filepath.Join(dir, "sub", "g"), "")
	dirfd := openDir(t, dir)

	pathFd := func(name string, extra int) int {
		fd, err := OpenBeneath(dirfd, name, unix.O_PATH|extra, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}

	t.Run("read", func(t *testing.T) {
		fd := pathFd("f", 0)
		// An O_PATH fd cannot read: that is what Reopen is for.
		if _, err := unix.Read(fd, make([]byte, 1)); err != unix.EBADF {
			t.Fatalf("read on O_PATH fd: %v, want EBADF", err)
		}
		r, err := Reopen(fd, unix.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(r)
		buf := make([]byte, 16)
		n, err := Read(r, buf)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("read reopened fd: %q, %v", buf[:n], err)
		}
		if fl, _ := unix.FcntlInt(uintptr(r), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
			t.Error("reopened fd is not close-on-exec")
		}
	})
	t.Run("write", func(t *testing.T) {
		w, err := Reopen(pathFd("f", 0), unix.O_WRONLY|unix.O_APPEND)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(w)
		if _, err := Write(w, []byte("!")); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "hello!" {
			t.Fatalf("file after append through reopened fd: %q", b)
		}
	})
	t.Run("directory", func(t *testing.T) {
		d, err := Reopen(pathFd("sub", unix.O_DIRECTORY), unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(d)
		ents, err := ReadDir(d)
		if err != nil || len(ents) != 1 || ents[0].Name != "g" {
			t.Fatalf("ReadDir of reopened directory: %v, %v", ents, err)
		}
	})
	t.Run("bad-flags", func(t *testing.T) {
		for _, flags := range []int{unix.O_CREAT | unix.O_RDWR, unix.O_TMPFILE | unix.O_RDWR} {
			if fd, err := Reopen(pathFd("f", 0), flags); !errors.Is(err, unix.EINVAL) {
				unix.Close(fd)
				t.Errorf("Reopen with %#x: %v, want EINVAL", flags, err)
			}
		}
	})
	t.Run("bad-fd", func(t *testing.T) {
		if _, err := Reopen(1<<20, unix.O_RDONLY); !errors.Is(err, unix.EBADF) {
			t.Fatalf("Reopen of a closed fd: %v, want EBADF", err)
		}
	})
}

func TestProcfsHandleIsPrivateWhenPermitted(t *testing.T) {
	root, err := procRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyProcRoot(root); err != nil {
		t.Fatal(err)
	}
	probe, err := newPrivateProcfs()
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("fsopen(\"proc\") needs CAP_SYS_ADMIN: %v", err)
		}
		t.Fatal(err)
	}
	unix.Close(probe)
	procfs.mu.Lock()
	private := procfs.private
	procfs.mu.Unlock()
	if !private {
		t.Fatal("fsopen(\"proc\") works here but the handle is the shared /proc")
	}
	// The private instance is detached: no path leads to it, so nothing
	// can be mounted over it. Its mount id is not /proc's.
	host := openDir(t, "/proc")
	if a, b := mustMountID(t, root), mustMountID(t, host); a == b {
		t.Fatalf("private procfs has /proc's mount id %d", a)
	}
}

// Each way of getting a private handle gives a verified procfs root through
// which Reopen's lookups work.
func TestPrivateProcfsSources(t *testing.T) {
	for _, src := range []struct {
		name string
		open func() (int, error)
	}{{"fsopen", newPrivateProcfs}, {"open_tree-clone", clonePrivateProcfs}} {
		t.Run(src.name, func(t *testing.T) {
			fd, err := src.open()
			if errors.Is(err, unix.EPERM) {
				t.Skipf("%s needs CAP_SYS_ADMIN: %v", src.name, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := verifyProcRoot(fd); err != nil {
				t.Fatal(err)
			}
			withLockedThread(t, func() {
				fddir, err := openThreadFdDir(fd)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fddir)
				if err := checkProcFdLink(fddir, fdName(fddir)); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func mustMountID(t *testing.T, fd int) uint64 {
	t.Helper()
	id, err := mountID(fd)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestVerifyProcRoot(t *testing.T) {
	cases := []struct {
		path string
		ok   bool
	}{
		{"/proc", true},
		{t.TempDir(), false},  // not procfs
		{"/proc/self", false}, // procfs, not its root
		{"/proc/sys", false},  // procfs, not its root
	}
	tmpfs := filepath.Join(t.TempDir(), "tmpfs")
	if err := tryMount(t, "tmpfs", tmpfs); err == nil {
		cases = append(cases, struct {
			path string
			ok   bool
		}{tmpfs, false}) // a mount root, but not procfs
	} else {
		t.Logf("not checking a tmpfs mount root: %v", err)
	}
	for _, tc := range cases {
		err := verifyProcRoot(openDir(t, tc.path))
		if tc.ok && err != nil {
			t.Errorf("%s rejected: %v", tc.path, err)
		}
		if !tc.ok && !errors.Is(err, errNotProcRoot) {
			t.Errorf("%s: %v, want errNotProcRoot", tc.path, err)
		}
	}
}

// The route used without openat2 reaches the same thread-self/fd.
func TestThreadFdDirWalking(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(root int) (int, error)
	}{{"openat2", openThreadFdDir}, {"walking", openThreadFdDirWalking}} {
		t.Run(tc.name, func(t *testing.T) {
			withLockedThread(t, func() {
				root, err := procRoot()
				if err != nil {
					t.Fatal(err)
				}
				fddir, err := tc.open(root)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fddir)
				// Our own fddir must be listed in the directory it names.
				if err := checkProcFdLink(fddir, fdName(fddir)); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func withLockedThread(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		lockOSThread()
		defer unlockOSThread()
		fn()
	}()
	<-done
}

// checkProcFdLink refuses an entry that is not a procfs magic link: the
// shape of an overmount that substitutes a file for /proc/.../fd/N.
func TestCheckProcFdLinkRejectsImpostor(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "3"), "not a magic link")
	mustSymlink(t, "/etc/passwd", filepath.Join(dir, "4"))
	dirfd := openDir(t, dir)
	for _, name := range []string{"3", "4"} {
		if err := checkProcFdLink(dirfd, name); !errors.Is(err, ErrEscape) {
			t.Errorf("entry %s in a plain directory: %v, want ErrEscape", name, err)
		}
	}
}

// Without CAP_SYS_ADMIN over our pid namespace, fsopen("proc") fails and
// the handle must be the verified /proc. The helper runs in a new user
// namespace, where it is root but has no privilege over the pid namespace.
func TestReopenUnprivileged(t *testing.T) {
	if os.Getenv("VFSOPS_UNPRIVILEGED_HELPER") == "1" {
		t.Skip("helper process")
	}
	out := childtest.Child{
		Test:        "TestUnprivilegedHelper",
		Env:         []string{"VFSOPS_UNPRIVILEGED_HELPER=1"},
		SysProcAttr: userNamespaceAttr(),
	}.Pass(t)
	t.Logf("%s", out)
}

func TestUnprivilegedHelper(t *testing.T) {
	if os.Getenv("VFSOPS_UNPRIVILEGED_HELPER") != "1" {
		t.Skip("run by TestReopenUnprivileged")
	}
	if _, err := newPrivateProcfs(); err == nil {
		t.Fatal("fsopen(\"proc\") succeeded in a user namespace: the test does not exercise the /proc route")
	}
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "hi")
	dirfd := openDir(t, dir)
	fd, err := OpenBeneath(dirfd, "f", unix.O_PATH, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	r, err := Reopen(fd, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(r)
	buf := make([]byte, 4)
	if n, err := Read(r, buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("read: %q %v", buf[:n], err)
	}
	procfs.mu.Lock()
	defer procfs.mu.Unlock()
	if procfs.private {
		t.Fatal("handle claims to be private")
	}
	t.Log("Reopen works through the verified /proc")
}

func TestProcfsMode(t *testing.T) {
	mode, err := ProcfsMode()
	if err != nil {
		t.Fatal(err)
	}
	want := "/proc"
	if fd, err := clonePrivateProcfs(); err == nil {
		unix.Close(fd)
		want = "clone"
	}
	if fd, err := newPrivateProcfs(); err == nil {
		unix.Close(fd)
		want = "private"
	}
	if mode != want {
		t.Fatalf("ProcfsMode = %q, want %q", mode, want)
	}
}
