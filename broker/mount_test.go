package broker

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// mountChildEnv tells a re-executed test binary that it runs in a mount
// namespace of its own; its value is the parent's namespace, which the
// child checks it has left before it mounts anything.
const mountChildEnv = "CAPFD_BROKER_MOUNTNS_CHILD"

// noSysAdminEnv marks the child started without CAP_SYS_ADMIN.
const noSysAdminEnv = "CAPFD_BROKER_NO_SYS_ADMIN"

// TestBindMountServed serves bind mounts through an in-process broker. The
// broker mounts in its own process's mount namespace, so the cases run in
// a re-executed test binary with a private namespace of its own (Go makes
// "/" MS_REC|MS_PRIVATE after the unshare); nothing reaches the host's,
// which the parent checks afterwards.
func TestBindMountServed(t *testing.T) {
	if os.Getenv(mountChildEnv) != "" {
		leftNamespace(t)
		if os.Getenv(noSysAdminEnv) != "" {
			bindMountWithoutSysAdmin(t)
		} else {
			bindMountCases(t)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need CAP_SYS_ADMIN (run as root)")
	}
	t.Run("cases", func(t *testing.T) { runMountChild(t, nil) })
	t.Run("no-cap-sys-admin", func(t *testing.T) {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("setpriv (util-linux) is needed to drop CAP_SYS_ADMIN from a child")
		}
		runMountChild(t, []string{setpriv, "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"})
	})
}

// runMountChild runs this test in a child with a new mount namespace,
// through wrapper (a command that execs its arguments) if given, and
// fails unless the child's test passed and left no mount on the host.
func runMountChild(t *testing.T, wrapper []string) {
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Skipf("mount namespaces (/proc/self/ns/mnt): %v", err)
	}
	// The child's files live under tmp, so any mount of its that reached
	// the host would show up beneath tmp in the host's mount table.
	tmp := t.TempDir()
	env := []string{mountChildEnv + "=" + ns, "TMPDIR=" + tmp}
	if wrapper != nil {
		env = append(env, noSysAdminEnv+"=1")
	}
	childtest.Child{
		Test:        "TestBindMountServed",
		Env:         env,
		Wrapper:     wrapper,
		SysProcAttr: &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS},
	}.Pass(t)
	for _, line := range strings.Split(readMountinfo(t, "self"), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], tmp) {
			t.Errorf("the child's mount reached the host: %s", line)
		}
	}
}

// leftNamespace refuses to go on unless this process is in another mount
// namespace than its parent: the cases below really mount.
func leftNamespace(t *testing.T) {
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || ns == os.Getenv(mountChildEnv) {
		t.Fatalf("child shares the parent's mount namespace (%q, %v): refusing to mount", ns, err)
	}
}

// mountTree makes the files the cases mount and mount over.
func mountTree(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"target.txt": "target\n", "source.txt": "source\n", "srcdir/inner.txt": "inner\n", "mnt/.keep": ""} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Registered after TempDir's cleanup, so it runs first: the temporary
	// directory can only be removed once nothing is mounted on it.
	t.Cleanup(func() { unmountBeneath(t, dir) })
	return dir
}

// servedMountTree serves a fresh mountTree with every right from an
// in-process broker and returns its path and the client's Dir on it,
// closed when the test ends.
func servedMountTree(t *testing.T) (string, *capfd.Dir) {
	t.Helper()
	dir := mountTree(t)
	r := served(t, newServer(t, Config{}), []Grant{{Name: "root", Path: dir, Rights: rights.Uniform(rights.All)}})
	root, err := r.Dir("root")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

// openPath opens name beneath d as an O_PATH File, closed when the test
// ends.
func openPath(t *testing.T, d *capfd.Dir, name string) *capfd.File {
	t.Helper()
	f, err := d.OpenFile(name, unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// unmountBeneath detaches every mount at or below dir in this process's
// mount namespace, the innermost first, until none is left.
func unmountBeneath(t testing.TB, dir string) {
	for range 16 {
		var points []string
		for _, line := range strings.Split(readMountinfo(t, "self"), "\n") {
			if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				points = append(points, f[4])
			}
		}
		if len(points) == 0 {
			return
		}
		for i := len(points) - 1; i >= 0; i-- {
			if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", points[i], err)
			}
		}
	}
}

func bindMountCases(t *testing.T) {
	L, M := rights.Lookup, rights.Mount
	for _, c := range []struct {
		name        string
		source, dst rights.Rights
		dirSource   bool // mount srcdir onto mnt instead of source.txt onto target.txt
		allowed     bool
	}{
		{"file-mount-on-both", L | M, L | M, false, true},
		{"dir-mount-on-both", L | M, L | M, true, true},
		{"source-lacks-mount", rights.All &^ M, L | M, false, false},
		{"target-lacks-mount", L | M, rights.All &^ M, false, false},
		{"target-lacks-lookup", L | M, rights.All &^ L, false, false},
		{"read-only-both", rights.ReadOnly, rights.ReadOnly, false, false},
		{"dir-source-lacks-mount", rights.All &^ M, L | M, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := mountTree(t)
			rc := rawServed(t, newServer(t, Config{}), []Grant{{Name: "root", Path: dir, Rights: rights.Uniform(rights.All)}})
			root := rc.roots["root"]
			var src uint32
			target, want := "target.txt", "source\n"
			if c.dirSource {
				src = rawOpenDir(t, rc, root, "srcdir", c.source)
				target, want = "mnt", "inner\n"
			} else {
				src = rc.open(root, "source.txt", unix.O_PATH, c.source)
			}
			dst := rawOpenDir(t, rc, root, ".", c.dst)
			before := readMountinfo(t, "self")

			rep, _ := rc.call(&wire.Request{Op: wire.OpBindMount, Handle: src, Handle2: dst, Path: target})

			seen := filepath.Join(dir, "target.txt")
			if c.dirSource {
				seen = filepath.Join(dir, "mnt", "inner.txt")
			}
			data, _ := os.ReadFile(seen)
			if c.allowed {
				if rep.Err != nil {
					t.Fatalf("bind mount: %+v", *rep.Err)
				}
				if !mountedAt(readMountinfo(t, "self"), filepath.Join(dir, target)) {
					t.Errorf("no mount at %s in mountinfo", target)
				}
				if string(data) != want {
					t.Errorf("after the mount %s reads %q, want %q", seen, data, want)
				}
				return
			}
			if rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
				t.Fatalf("got %+v, want not capable", rep.Err)
			}
			if missing := rep.Err.Held.Missing(rep.Err.Needed); missing&(L|M) == 0 {
				t.Errorf("missing %v names neither lookup nor mount", missing)
			}
			if after := readMountinfo(t, "self"); after != before {
				t.Errorf("a refused bind mount changed the mount table")
			}
			if c.dirSource {
				if _, err := os.Stat(seen); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("refused mount: %s exists (%v)", seen, err)
				}
			} else if string(data) != "target\n" {
				t.Errorf("refused mount: target reads %q", data)
			}
		})
	}

	// The capfd API over the broker: Dir and File BindMount reach it, and a
	// handle without mount is refused (first by the client's own check).
	t.Run("remote-api", func(t *testing.T) {
		_, root := servedMountTree(t)
		ro, err := root.Limit(rights.Uniform(rights.ReadOnly))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if err := openPath(t, ro, "source.txt").BindMount(root, "target.txt"); !errors.Is(err, capfd.ErrNotCapable) {
			t.Fatalf("read-only source: %v, want not capable", err)
		}
		f := openPath(t, root, "source.txt")
		if err := f.BindMount(ro, "target.txt"); !errors.Is(err, capfd.ErrNotCapable) {
			t.Fatalf("read-only target: %v, want not capable", err)
		}
		if err := f.BindMount(root, "target.txt"); err != nil {
			t.Fatal(err)
		}
		if data, err := root.ReadFile("target.txt"); err != nil || string(data) != "source\n" {
			t.Errorf("target through the broker = %q, %v; want the source's bytes", data, err)
		}
		sub, err := root.OpenDir("srcdir", rights.Uniform(rights.ReadOnly|rights.Mount))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if err := sub.BindMount(root, "mnt"); err != nil {
			t.Fatal(err)
		}
		if data, err := root.ReadFile("mnt/inner.txt"); err != nil || string(data) != "inner\n" {
			t.Errorf("mnt/inner.txt through the broker = %q, %v", data, err)
		}
	})
}

// bindMountWithoutSysAdmin: the rights allow the mount, the kernel does
// not; the client gets EPERM and the broker's reason.
func bindMountWithoutSysAdmin(t *testing.T) {
	if hasSysAdmin(t) {
		t.Fatal("the child still holds CAP_SYS_ADMIN: the setpriv wrapper did not drop it")
	}
	dir, root := servedMountTree(t)
	err := openPath(t, root, "source.txt").BindMount(root, "target.txt")
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "CAP_SYS_ADMIN") {
		t.Fatalf("bind mount without CAP_SYS_ADMIN: %v; want EPERM naming CAP_SYS_ADMIN", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "target.txt")); string(data) != "target\n" {
		t.Errorf("target reads %q", data)
	}
}

// hasSysAdmin reads CAP_SYS_ADMIN (bit 21) from this process's effective set.
func hasSysAdmin(t *testing.T) bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return eff&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}

func rawOpenDir(t *testing.T, rc *rawClient, dir uint32, path string, r rights.Rights) uint32 {
	t.Helper()
	rep, _ := rc.call(&wire.Request{Op: wire.OpOpenDir, Handle: dir, Path: path, Pair: rights.Pair{Base: r, Inherit: r}})
	if rep.Err != nil {
		t.Fatalf("opendir %s: %+v", path, *rep.Err)
	}
	return rep.NewHandle
}

// readMountinfo returns /proc/<pid>/mountinfo.
func readMountinfo(t testing.TB, pid string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// mountedAt reports whether mountinfo lists a mount at path (the fifth
// field; paths here have no characters mountinfo escapes).
func mountedAt(mountinfo, path string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
