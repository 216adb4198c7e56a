package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capfd/capfd/internal/childtest"
	"golang.org/x/sys/unix"
)

func TestFdOps(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "0123456789")
	dirfd := openDir(t, dir)
	open := func(name string, flags int) int {
		t.Helper()
		fd, err := OpenBeneath(dirfd, name, flags, 0o644, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	rw := open("f", unix.O_RDWR)
	buf := make([]byte, 4)
	if n, err := Pread(rw, buf, 3); err != nil || string(buf[:n]) != "3456" {
		t.Fatalf("pread: %q %v", buf[:n], err)
	}
	if _, err := Pwrite(rw, []byte("ab"), 8); err != nil {
		t.Fatal(err)
	}
	if off, err := Seek(rw, 2, 0); err != nil || off != 2 {
		t.Fatalf("seek: %d %v", off, err)
	}
	if n, err := Read(rw, buf); err != nil || string(buf[:n]) != "2345" {
		t.Fatalf("read after seek: %q %v", buf[:n], err)
	}
	if err := Ftruncate(rw, 5); err != nil {
		t.Fatal(err)
	}
	if err := Fsync(rw); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "01234" {
		t.Fatalf("after pwrite+truncate: %q", b)
	}
	if err := Flock(rw, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	other := open("f", unix.O_RDONLY)
	if err := Flock(other, unix.LOCK_SH|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("second lock: %v, want EWOULDBLOCK", err)
	}

	// Errors name the operation and the fd.
	path := open("f", unix.O_PATH)
	_, err := Read(path, buf)
	if !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "read fd:") {
		t.Fatalf("read on O_PATH: %v", err)
	}
	if err := Ftruncate(path, 0); !errors.Is(err, unix.EBADF) {
		t.Fatalf("ftruncate on O_PATH fd: %v, want EBADF (needs Reopen)", err)
	}
}

// Metadata operations on O_PATH fds, by the direct route and by the
// hardened-procfs route used on kernels without fchmodat2 or
// utimensat(AT_EMPTY_PATH).
func TestFdMetadataOnOPath(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "x")
	dirfd := openDir(t, dir)
	fd, err := OpenBeneath(dirfd, "f", unix.O_PATH, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mode := func() uint32 {
		st, err := Fstat(fd)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode & 0o7777
	}
	if err := Fchmod(fd, 0o640); err != nil || mode() != 0o640 {
		t.Fatalf("Fchmod on O_PATH: %v, mode %o", err, mode())
	}
	err = withProcFd(fd, func(fddir int, name string) error { return unix.Fchmodat(fddir, name, 0o604, 0) })
	if err != nil || mode() != 0o604 {
		t.Fatalf("chmod through the procfs handle: %v, mode %o", err, mode())
	}
	uid, gid := 77, 88
	if !chownPermitted() {
		uid, gid = os.Getuid(), os.Getgid()
	}
	if err := Fchown(fd, uid, gid); err != nil {
		t.Fatal(err)
	}
	if st, _ := Fstat(fd); st.Uid != uint32(uid) || st.Gid != uint32(gid) {
		t.Fatalf("Fchown: %d:%d", st.Uid, st.Gid)
	}
	ts := unix.Timespec{Sec: 3_000_000}
	if err := Futimes(fd, ts, ts); err != nil {
		t.Fatal(err)
	}
	if st, _ := Fstat(fd); st.Mtim.Sec != ts.Sec {
		t.Fatalf("Futimes: mtime %d", st.Mtim.Sec)
	}
	ts2 := unix.Timespec{Sec: 4_000_000}
	err = withProcFd(fd, func(fddir int, name string) error {
		return unix.UtimesNanoAt(fddir, name, []unix.Timespec{ts2, ts2}, 0)
	})
	if st, _ := Fstat(fd); err != nil || st.Mtim.Sec != ts2.Sec {
		t.Fatalf("utimes through the procfs handle: %v, mtime %d", err, st.Mtim.Sec)
	}
}

func TestXattrs(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "x")
	dirfd := openDir(t, dir)
	for _, kind := range []struct {
		name  string
		flags int
	}{{"open-file", unix.O_RDONLY}, {"o-path", unix.O_PATH}} {
		t.Run(kind.name, func(t *testing.T) {
			fd, err := OpenBeneath(dirfd, "f", kind.flags, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			attr := "user.vfsops." + strings.ReplaceAll(kind.name, "-", "")
			if err := Setxattr(fd, attr, []byte("value"), 0); err != nil {
				if errors.Is(err, unix.ENOTSUP) {
					t.Skipf("the test filesystem has no user xattrs: %v", err)
				}
				t.Fatal(err)
			}
			val, err := Getxattr(fd, attr)
			if err != nil || string(val) != "value" {
				t.Fatalf("getxattr: %q %v", val, err)
			}
			names, err := Listxattr(fd)
			if err != nil || !slices.Contains(names, attr) {
				t.Fatalf("listxattr: %v %v", names, err)
			}
			if err := Removexattr(fd, attr); err != nil {
				t.Fatal(err)
			}
			if _, err := Getxattr(fd, attr); !errors.Is(err, unix.ENODATA) {
				t.Fatalf("getxattr after remove: %v, want ENODATA", err)
			}
		})
	}
}

func TestExec(t *testing.T) {
	if os.Getenv("VFSOPS_EXEC_HELPER") == "1" {
		bin := openDir(t, "/usr/bin")
		fd, err := OpenBeneath(bin, "echo", unix.O_PATH, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = Exec(fd, []string{"echo", "exec-through-fd"}, os.Environ())
		t.Fatalf("Exec returned: %v", err)
	}
	if _, err := os.Stat("/usr/bin/echo"); err != nil {
		t.Skipf("no /usr/bin/echo to exec: %v", err)
	}
	// The child's output is echo's alone: the exec replaced the test binary.
	out, code := childtest.Child{Test: "TestExec", Env: []string{"VFSOPS_EXEC_HELPER=1"}}.Output(t)
	if code != 0 || strings.TrimSpace(out) != "exec-through-fd" {
		t.Fatalf("exec helper: exit %d, output %q", code, out)
	}
	// Failure is reported, with context.
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "notexec"), "x")
	fd, err := OpenBeneath(openDir(t, dir), "notexec", unix.O_PATH, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := Exec(fd, []string{"x"}, nil); !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "execveat") {
		t.Fatalf("exec of a non-executable: %v, want EACCES", err)
	}
}

func TestBindMount(t *testing.T) {
	tmp := t.TempDir()
	mustWrite(t, filepath.Join(tmp, "src", "data"), "bound")
	mustWrite(t, filepath.Join(tmp, "root", "target", "placeholder"), "")
	srcfd := openDir(t, filepath.Join(tmp, "src"))
	rootfd := openDir(t, filepath.Join(tmp, "root"))
	if err := BindMount(srcfd, rootfd, "../escape"); !errors.Is(err, ErrEscape) {
		t.Fatalf("bind mount onto ../escape: %v, want ErrEscape", err)
	}
	if err := BindMount(srcfd, rootfd, "target"); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("open_tree/move_mount need CAP_SYS_ADMIN: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(tmp, "root", "target"), unix.MNT_DETACH) })
	if b, err := os.ReadFile(filepath.Join(tmp, "root", "target", "data")); err != nil || string(b) != "bound" {
		t.Fatalf("bind-mounted data: %q %v", b, err)
	}
}

func TestDupAndStatusFlags(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "dup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wfd, err := unix.Open(f.Name(), unix.O_WRONLY|unix.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(wfd)
	nfd, err := Dup(wfd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)
	fdFlags, _ := unix.FcntlInt(uintptr(nfd), unix.F_GETFD, 0)
	if fdFlags&unix.FD_CLOEXEC == 0 {
		t.Error("Dup result is not close-on-exec")
	}
	fl, err := StatusFlags(nfd)
	if err != nil || fl&unix.O_ACCMODE != unix.O_WRONLY || fl&unix.O_APPEND == 0 {
		t.Errorf("StatusFlags = %#o, %v; want O_WRONLY|O_APPEND", fl, err)
	}
	if _, err := Dup(-1); err == nil {
		t.Error("Dup(-1) succeeded")
	}
	if _, err := OpenDirAmbient(f.Name()); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("OpenDirAmbient(file) = %v, want ENOTDIR", err)
	}
}
