package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMemfdExec: a program may read a file granted read-only but not
// execute it; copying its bytes into a memfd and execveat'ing that ran it
// anyway (Landlock's EXECUTE cannot name memfds). Plainly the copy runs;
// under capfd run as root the PID namespace's vm.memfd_noexec is 2 and the
// exec fails with EACCES, as does exec'ing the file itself. For an
// unprivileged launcher the sysctl cannot be written and the copy still
// runs: the documented gap, checked so the docs stay true.
func TestMemfdExec(t *testing.T) {
	requireRun(t)
	if _, err := os.Stat("/proc/sys/vm/memfd_noexec"); err != nil {
		t.Skipf("no vm.memfd_noexec (Linux 6.3+): %v", err)
	}
	dir := t.TempDir()
	copied := copyCommand(t, "echo", filepath.Join(dir, "echo"))
	if o := run(t, dir, bin.memfdexec, copied, "ran"); o.stdout != "ran\n" {
		t.Fatalf("plainly the memfd copy did not run: %+v", o)
	}
	grants := []string{"-q", "--grant", dir + "=ro", "--grant", bin.dir + "=rx"}
	if o := capfdRun(t, dir, grants, copied, "direct"); o.code == 0 {
		t.Fatalf("the read-only file itself was executed: %+v", o)
	}
	if o := capfdRun(t, dir, grants, bin.memfdexec, copied, "ran"); strings.TrimSpace(o.stdout) != "exec failed: EACCES" {
		t.Errorf("under capfd run: %+v, want exec failed: EACCES", o)
	}
	t.Run("unprivileged launcher: documented gap", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to switch to an unprivileged user")
		}
		allowUnprivileged(t, dir)
		cmd := exec.Command(bin.capfd, append(append([]string{"run"}, grants...), "--", bin.memfdexec, copied, "ran")...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.Output()
		if string(out) != "ran\n" {
			t.Errorf("unprivileged: %q; if memfds are now refused here too, update docs/run.md and this test", out)
		}
	})
}
