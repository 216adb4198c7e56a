package vfsops

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"github.com/capfd/capfd/internal/childtest"
	"golang.org/x/sys/unix"
)

// TestOpenat2RefusedBySeccomp runs resolution in a process whose seccomp
// filter refuses openat2, as container runtimes' default profiles once did,
// with each errno such filters use. Resolution must fall back to the walker
// and keep every guarantee.
func TestOpenat2RefusedBySeccomp(t *testing.T) {
	if os.Getenv("VFSOPS_SECCOMP_ERRNO") != "" {
		t.Skip("helper process")
	}
	for _, errno := range []unix.Errno{unix.ENOSYS, unix.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			out := childtest.Child{
				Test: "TestSeccompHelper",
				Env:  []string{"VFSOPS_SECCOMP_ERRNO=" + strconv.Itoa(int(errno))},
			}.Pass(t)
			t.Logf("%s", out)
		})
	}
}

func TestSeccompHelper(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VFSOPS_SECCOMP_ERRNO"))
	if n == 0 {
		t.Skip("run by TestOpenat2RefusedBySeccomp")
	}
	errno := unix.Errno(n)
	installOpenat2Filter(t, errno)

	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH}
	if _, err := unix.Openat2(unix.AT_FDCWD, ".", &how); err != errno {
		t.Fatalf("raw openat2 under the filter: %v, want %v", err, errno)
	}
	if err := ProbeOpenat2(); !errors.Is(err, errno) {
		t.Fatalf("ProbeOpenat2 under the filter: %v, want %v", err, errno)
	}

	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "root", "a", "f"), "inside")
	mustWrite(t, filepath.Join(dir, "secret"), "outside")
	mustSymlink(t, "../../secret", filepath.Join(dir, "root", "a", "up"))
	rootfd := openDir(t, filepath.Join(dir, "root"))

	fd, err := OpenBeneath(rootfd, "a/f", unix.O_RDONLY, 0, 0)
	if err != nil {
		t.Fatalf("OpenBeneath with openat2 refused: %v", err)
	}
	unix.Close(fd)
	if !openat2State.refused.Load() {
		t.Fatal("the refusal was not recorded")
	}
	for _, p := range []string{"../secret", "a/up", filepath.Join(dir, "secret")} {
		if fd, err := OpenBeneath(rootfd, p, unix.O_RDONLY, 0, 0); !errors.Is(err, ErrEscape) {
			unix.Close(fd)
			t.Fatalf("%s under the filter: %v, want ErrEscape", p, err)
		}
	}
	// Reopen's procfs lookups fall back too.
	pfd, err := OpenBeneath(rootfd, "a/f", unix.O_PATH, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pfd)
	r, err := Reopen(pfd, unix.O_RDONLY)
	if err != nil {
		t.Fatalf("Reopen with openat2 refused: %v", err)
	}
	unix.Close(r)
	t.Logf("openat2 refused with %v: resolution and Reopen used the fallbacks", errno)
}

// installOpenat2Filter makes openat2 fail with errno in every thread.
func installOpenat2Filter(t *testing.T, errno unix.Errno) {
	t.Helper()
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
	)
	filter := []unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, K: unix.AUDIT_ARCH_X86_64, Jt: 0, Jf: 2},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
		{Code: jeq, K: unix.SYS_OPENAT2, Jt: 1, Jf: 0},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		t.Fatalf("seccomp: %v", e)
	}
}
