package vfsops

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenProcPidfd: a pidfd of a live process opens its task directory,
// with its pid; of a process that has exited, ESRCH, never another's.
// (A process outside the caller's pid namespace: tests/broker
// TestIdentityAcrossPIDNamespaces.)
func TestOpenProcPidfd(t *testing.T) {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(self)
	dir, pid, err := OpenProcPidfd(self)
	if err != nil {
		t.Fatal(err)
	}
	if pid != os.Getpid() {
		t.Errorf("pid %d, want %d", pid, os.Getpid())
	}
	exe, _ := os.Executable()
	if got, err := dir.Readlink("exe"); err != nil || got != exe {
		t.Errorf("exe %q, %v; want %s", got, err, exe)
	}
	dir.Close()

	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := unix.PidfdOpen(p.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(gone)
	p.Wait()
	if _, _, err := OpenProcPidfd(gone); !errors.Is(err, ErrNoPid) && !errors.Is(err, unix.ESRCH) {
		t.Errorf("pidfd of an exited process: %v, want ErrNoPid or ESRCH", err)
	}
	if _, _, err := OpenProcPidfd(int(os.Stdin.Fd())); err == nil {
		t.Error("a descriptor that is no pidfd was accepted")
	}
}
