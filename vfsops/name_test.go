package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEntryOpsActOnOneName(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "sub", "f"), "x")
	if err := os.Symlink("sub/f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, dir)
	st, err := StatEntry(d, "l")
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("StatEntry(l) = %o, %v; want the link itself", st.Mode, err)
	}
	if target, err := ReadlinkEntry(d, "l"); err != nil || target != "sub/f" {
		t.Fatalf("ReadlinkEntry(l) = %q, %v", target, err)
	}
	for _, name := range []string{"sub/f", "", "/etc", "a\x00b"} {
		if _, err := StatEntry(d, name); !errors.Is(err, ErrBadName) {
			t.Errorf("StatEntry(%q) = %v, want ErrBadName", name, err)
		}
		if _, err := ReadlinkEntry(d, name); !errors.Is(err, ErrBadName) {
			t.Errorf("ReadlinkEntry(%q) = %v, want ErrBadName", name, err)
		}
	}
	if _, err := StatEntry(d, "missing"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("StatEntry(missing) = %v, want ENOENT", err)
	}
}

func TestFdOpsOnPathFds(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	mustWrite(t, f, "x")
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	pfd, err := unix.Open(f, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pfd)
	if stx, err := Statx(pfd, unix.STATX_SIZE, unix.AT_STATX_FORCE_SYNC|unix.AT_SYMLINK_NOFOLLOW); err != nil || stx.Size != 1 {
		t.Errorf("Statx = %d, %v", stx.Size, err)
	}
	if _, err := Fstatfs(pfd); err != nil {
		t.Errorf("Fstatfs: %v", err)
	}
	if err := Access(pfd, unix.R_OK); err != nil {
		t.Errorf("Access: %v", err)
	}
	lfd, err := unix.Open(filepath.Join(dir, "l"), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if target, err := ReadlinkFd(lfd); err != nil || target != "f" {
		t.Errorf("ReadlinkFd = %q, %v", target, err)
	}
	// The native forms keep the kernel's refusal of O_PATH fds.
	if err := NativeFchown(pfd, -1, -1); !errors.Is(err, unix.EBADF) {
		t.Errorf("NativeFchown(O_PATH) = %v, want EBADF", err)
	}
	if err := Fchown(pfd, -1, -1); err != nil {
		t.Errorf("Fchown(O_PATH) = %v", err)
	}
	if err := NativeFremovexattr(pfd, "user.x"); !errors.Is(err, unix.EBADF) {
		t.Errorf("NativeFremovexattr(O_PATH) = %v, want EBADF", err)
	}
	if err := NativeFsetxattr(pfd, "user.x", []byte("v"), 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("NativeFsetxattr(O_PATH) = %v, want EBADF", err)
	}
}

func TestStatusFlagsAndFallocate(t *testing.T) {
	fd, err := unix.Open(filepath.Join(t.TempDir(), "f"), unix.O_RDWR|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := SetStatusFlags(fd, 0); err != nil {
		t.Fatal(err)
	}
	if fl, err := StatusFlags(fd); err != nil || fl&unix.O_APPEND != 0 {
		t.Fatalf("flags = %#x, %v; O_APPEND should be clear", fl, err)
	}
	if err := Fallocate(fd, 0, 0, 4096); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatal(err)
	}
}
