package capfd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// mountChildEnv names, in TestBindMount's child, the tree to mount in, the
// rights of the source and the target, and whether capfd must mount or
// refuse: "root:source:target:mount|refuse".
const mountChildEnv = "CAPFD_MOUNT_CHILD"

// TestBindMount bind-mounts sub/inner over file through capfd in a child
// process with a mount namespace of its own (so nothing leaks onto the
// host), with and without the mount right on each operand. The child's
// test checks the outcome; the parent, that the host saw none of it.
func TestBindMount(t *testing.T) {
	if spec := os.Getenv(mountChildEnv); spec != "" {
		mountChild(t, spec)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need CAP_SYS_ADMIN (run as root)")
	}
	for _, c := range []struct {
		name           string
		source, target rights.Rights
		want           string
	}{
		{"both-rights", lookup | rights.Mount, lookup | rights.Mount, "mount"},
		{"source-lacks-mount", lookup, lookup | rights.Mount, "refuse"},
		{"target-lacks-mount", lookup | rights.Mount, lookup, "refuse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			populate(t, root)
			childtest.Child{
				Test:        "TestBindMount",
				Env:         []string{mountChildEnv + "=" + strings.Join([]string{root, c.source.String(), c.target.String(), c.want}, ":")},
				SysProcAttr: &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS},
			}.Pass(t)
			// The host never sees the mount.
			if data, _ := os.ReadFile(filepath.Join(root, "file")); string(data) != "hello\n" {
				t.Fatalf("host sees file = %q after the child", data)
			}
		})
	}
}

// mountChild bind-mounts sub/inner over file as spec says and checks that
// capfd mounted (file now shows sub/inner) or refused for lack of rights.
func mountChild(t *testing.T, spec string) {
	parts := strings.Split(spec, ":")
	if len(parts) != 4 {
		t.Fatalf("%s=%q: want root:source:target:mount|refuse", mountChildEnv, spec)
	}
	root, source, target, want := parts[0], rights.MustParse(parts[1]), rights.MustParse(parts[2]), parts[3]
	d := openTestDir(t, root, rights.Pair{Base: target, Inherit: source | lookup})
	f, err := d.OpenFile("sub/inner", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := f.Limit(source)
	if err != nil {
		t.Fatal(err)
	}
	err = src.BindMount(d, "file")
	switch want {
	case "refuse":
		if !errors.Is(err, ErrNotCapable) {
			t.Fatalf("BindMount with source %s, target %s: %v, want ErrNotCapable", source, target, err)
		}
	case "mount":
		if err != nil {
			t.Fatalf("BindMount with source %s, target %s: %v", source, target, err)
		}
		if data, err := os.ReadFile(filepath.Join(root, "file")); string(data) != "inner\n" {
			t.Fatalf("file after the mount = %q, %v; want sub/inner's", data, err)
		}
	default:
		t.Fatalf("%s=%q: want mount or refuse, not %q", mountChildEnv, spec, want)
	}
}
