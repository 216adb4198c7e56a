package capfd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// TestBindMount bind-mounts sub/inner over file through capfd in a child
// process with a mount namespace of its own (so nothing leaks onto the
// host), with and without the mount right on each operand.
func TestBindMount(t *testing.T) {
	if os.Getenv("CAPFD_MOUNT_CHILD") != "" {
		mountChild()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need CAP_SYS_ADMIN (run as root)")
	}
	for _, c := range []struct {
		name           string
		source, target rights.Rights
		wantCode       int
	}{
		{"both-rights", lookup | rights.Mount, lookup | rights.Mount, 0},
		{"source-lacks-mount", lookup, lookup | rights.Mount, 3},
		{"target-lacks-mount", lookup | rights.Mount, lookup, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			populate(t, root)
			cmd := exec.Command(os.Args[0], "-test.run=^TestBindMount$")
			cmd.Env = append(os.Environ(), "CAPFD_MOUNT_CHILD="+root+":"+c.source.String()+":"+c.target.String())
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil {
				t.Skipf("cannot start a child in a new mount namespace: %v", err)
			}
			if code := cmd.ProcessState.ExitCode(); code != c.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, c.wantCode, out)
			}
			// The host never sees the mount.
			if data, _ := os.ReadFile(filepath.Join(root, "file")); string(data) != "hello\n" {
				t.Fatalf("host sees file = %q after the child", data)
			}
		})
	}
}

// mountChild: exit 0 when the mount happened (file now shows sub/inner),
// 3 when capfd refused it for lack of rights.
func mountChild() {
	parts := strings.SplitN(os.Getenv("CAPFD_MOUNT_CHILD"), ":", 3)
	if len(parts) != 3 {
		os.Exit(7)
	}
	root, source, target := parts[0], rights.MustParse(parts[1]), rights.MustParse(parts[2])
	d, err := OpenDir(root, rights.Pair{Base: target, Inherit: source | lookup})
	if err != nil {
		os.Exit(4)
	}
	f, err := d.OpenFile("sub/inner", unix.O_PATH, 0)
	if err != nil {
		os.Exit(5)
	}
	src, err := f.Limit(source)
	if err != nil {
		os.Exit(5)
	}
	err = src.BindMount(d, "file")
	if errors.Is(err, ErrNotCapable) {
		os.Exit(3)
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(6)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "file")); string(data) != "inner\n" {
		os.Exit(8)
	}
	os.Exit(0)
}
