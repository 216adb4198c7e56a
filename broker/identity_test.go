package broker

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcIdentity: the exe and cgroup are read only through a task
// directory whose process the pidfd proves alive after the open.
func TestProcIdentity(t *testing.T) {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(self)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	gotExe, gotCg := procIdentity(os.Getpid(), self)
	if gotExe != exe {
		t.Errorf("exe = %q, want %q", gotExe, exe)
	}
	if cg := ownCgroup(t); gotCg != cg {
		t.Errorf("cgroup = %q, want %q", gotCg, cg)
	}

	// A pidfd whose process has exited vouches for nothing, not even for
	// a directory that opened (here, this process's own).
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skipf("no true(1) to run: %v", err)
	}
	dead, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dead)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, pidfd := range []int{dead, -1} {
		if exe, cg := procIdentity(os.Getpid(), pidfd); exe != "" || cg != "" {
			t.Errorf("with pidfd %d (not alive): exe %q, cgroup %q; want neither", pidfd, exe, cg)
		}
	}
}
