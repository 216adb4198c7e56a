package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestProcPidReadsOurOwnEntries(t *testing.T) {
	p, err := OpenProcPid(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, err := p.Open("status", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := Pread(fd, buf, 0)
	unix.Close(fd)
	if err != nil || !strings.Contains(string(buf[:n]), "\nPid:\t"+strconv.Itoa(os.Getpid())+"\n") {
		t.Fatalf("status: %v %q", err, buf[:n])
	}
	wd, _ := os.Getwd()
	if cwd, err := p.Readlink("cwd"); err != nil || cwd != wd {
		t.Fatalf("cwd = %q, %v; want %q", cwd, err, wd)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := p.Readlink("fd/" + strconv.Itoa(int(f.Fd()))); err != nil || got != f.Name() {
		t.Fatalf("fd link = %q, %v; want %q", got, err, f.Name())
	}
	if got, err := FdPath(int(f.Fd())); err != nil || got != f.Name() {
		t.Fatalf("FdPath = %q, %v; want %q", got, err, f.Name())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.Readlink("exe"); err != nil || got != exe {
		t.Fatalf("exe = %q, %v; want %q", got, err, exe)
	}
	if ns, err := p.Readlink("ns/user"); err != nil || !strings.HasPrefix(ns, "user:[") {
		t.Fatalf("ns/user = %q, %v", ns, err)
	}
	mem, err := p.Open("mem", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(mem)
}

func TestProcThreadSelfIsOurThread(t *testing.T) {
	lockOSThread()
	defer unlockOSThread()
	p, err := OpenProcThreadSelf()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, err := p.Open("status", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, _ := Pread(fd, buf, 0)
	if !strings.Contains(string(buf[:n]), "\nPid:\t"+strconv.Itoa(unix.Gettid())+"\n") {
		t.Fatalf("thread-self status is not this thread's: %q", buf[:n])
	}
}

func TestProcPidRefusesWhatIsNoEntry(t *testing.T) {
	if _, err := OpenProcPid(0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("OpenProcPid(0) = %v, want EINVAL", err)
	}
	p, err := OpenProcPid(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, name := range []string{"", "../1/status", "fd/../status", "/etc/passwd", "./status"} {
		if _, err := p.Open(name, unix.O_RDONLY); !errors.Is(err, ErrBadName) {
			t.Errorf("Open(%q) = %v, want ErrBadName", name, err)
		}
		if _, err := p.Readlink(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Readlink(%q) = %v, want ErrBadName", name, err)
		}
	}
	// A magic link is read, never followed, by Open.
	if fd, err := p.Open("cwd", unix.O_RDONLY); err == nil {
		unix.Close(fd)
		t.Errorf("Open(cwd) followed the magic link")
	}
	if _, err := p.Readlink("status"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Readlink(status) = %v, want EINVAL (not a link)", err)
	}
}

// The routes taken where the handle is the host /proc or openat2 is
// missing: the walker and the checked link read give the same answers.
func TestProcPidFallbackRoutes(t *testing.T) {
	proc := openDir(t, "/proc")
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name := "self/fd/" + strconv.Itoa(int(f.Fd()))
	if got, err := readProcLinkChecked(proc, name); err != nil || got != f.Name() {
		t.Fatalf("checked read = %q, %v; want %q", got, err, f.Name())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readProcLinkChecked(proc, "self/exe"); err != nil || got != exe {
		t.Fatalf("checked read of exe = %q, %v; want %q", got, err, exe)
	}
	fd, err := openProcEntryWalking(proc, "self/status", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := Pread(fd, buf, 0)
	unix.Close(fd)
	if !strings.Contains(string(buf[:n]), "\nPid:\t"+strconv.Itoa(os.Getpid())+"\n") {
		t.Fatalf("walked status is not ours: %q", buf[:n])
	}
	if fd, err := openProcEntryWalking(proc, "self/cwd", unix.O_RDONLY); err == nil {
		unix.Close(fd)
		t.Errorf("walker followed the cwd magic link")
	}
}
