package broker_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// TestBindMountInBrokerNamespace runs the broker process in a mount
// namespace of its own and asks it for bind mounts through a raw client
// (so every refusal is the broker's own check) and through the capfd API.
// With mount on both ends the mount appears in the broker's mountinfo and
// reads through the broker see the source; the test process, in the host's
// namespace, still sees the file underneath. Without mount on either end,
// or from a read-only grant, the request is refused as not capable and the
// broker's mount table is unchanged.
func TestBindMountInBrokerNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need CAP_SYS_ADMIN (run as root)")
	}
	base := realTempDir(t)
	b := startBrokerInMountNS(t, []grantSpec{{"rw", base, "all"}, {"ro", base, "ro"}}, nil)
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: b.socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	rc := brokertest.NewRawClient(t, uc)
	rw, ro := rc.Roots["rw"], rc.Roots["ro"]

	L, M := rights.Lookup, rights.Mount
	denied := 0
	for _, c := range []struct {
		name        string
		source, dst rights.Rights
		dirSource   bool // srcdir onto mnt instead of source.txt onto target.txt
		fromRO      bool // both handles come from the read-only grant
		allowed     bool
	}{
		{name: "file-mount-on-both", source: L | M, dst: L | M, allowed: true},
		{name: "dir-mount-on-both", source: L | M, dst: L | M, dirSource: true, allowed: true},
		{name: "source-lacks-mount", source: rights.All &^ M, dst: L | M},
		{name: "target-lacks-mount", source: L | M, dst: rights.All &^ M},
		{name: "dir-source-lacks-mount", source: rights.All &^ M, dst: L | M, dirSource: true},
		{name: "read-only-grant", source: rights.ReadOnly, dst: rights.ReadOnly, fromRO: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc.T = t
			caseDir := c.name
			host := filepath.Join(base, caseDir)
			mountFixture(t, host)
			root := rw
			if c.fromRO {
				root = ro
			}
			var src uint32
			target, shows, want := "target.txt", "target.txt", "source\n"
			if c.dirSource {
				src = rawOpenDir(t, rc, root, path.Join(caseDir, "srcdir"), c.source)
				target, shows, want = "mnt", "mnt/inner.txt", "inner\n"
			} else {
				src = rawOpen(t, rc, root, path.Join(caseDir, "source.txt"), unix.O_PATH, c.source)
			}
			dst := rawOpenDir(t, rc, root, caseDir, c.dst)
			before := mountinfo(t, b.pid())

			rep, _ := rc.Call(&wire.Request{Op: wire.OpBindMount, Handle: src, Handle2: dst, Path: target})

			seen := rawReadFile(t, rc, rw, path.Join(caseDir, shows))
			if c.allowed {
				if rep.Err != nil {
					t.Fatalf("bind mount: %+v", *rep.Err)
				}
				if !mountedAt(mountinfo(t, b.pid()), filepath.Join(host, target)) {
					t.Errorf("no mount at %s in the broker's mountinfo", target)
				}
				if seen != want {
					t.Errorf("%s through the broker = %q, want the source's %q", shows, seen, want)
				}
				// The mount lives in the broker's namespace only.
				if mountedAt(mountinfo(t, os.Getpid()), filepath.Join(host, target)) {
					t.Errorf("the mount reached the test's (host) namespace")
				}
				if data, _ := os.ReadFile(filepath.Join(host, "target.txt")); string(data) != "target\n" {
					t.Errorf("host sees target.txt = %q", data)
				}
				return
			}
			denied++
			if rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
				t.Fatalf("got %+v, want not capable", rep.Err)
			}
			if missing := rep.Err.Held.Missing(rep.Err.Needed); missing&M == 0 {
				t.Errorf("missing %v does not name mount", missing)
			}
			if mountinfo(t, b.pid()) != before {
				t.Errorf("a refused bind mount changed the broker's mount table")
			}
			if c.dirSource {
				if seen != "" {
					t.Errorf("refused mount: mnt/inner.txt reads %q", seen)
				}
			} else if seen != "target\n" {
				t.Errorf("refused mount: target.txt through the broker reads %q", seen)
			}
		})
	}
	rc.T = t
	series := `capfd_broker_operations_total{op="bind-mount",result="denied"}`
	if got := b.metric(t, series); got != float64(denied) {
		t.Errorf("%s = %v, want %d", series, got, denied)
	}

	t.Run("capfd-api", func(t *testing.T) {
		host := filepath.Join(base, "api")
		mountFixture(t, host)
		r := dial(t, b)
		root := rootDir(t, r, "rw")
		d, err := root.OpenDir("api", rights.Uniform(rights.All))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		roDir := rootDir(t, r, "ro")
		roSrc, err := roDir.OpenFile("api/source.txt", unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer roSrc.Close()
		if err := roSrc.BindMount(d, "target.txt"); !errors.Is(err, capfd.ErrNotCapable) {
			t.Fatalf("read-only source: %v, want not capable", err)
		}
		src, err := d.OpenFile("source.txt", unix.O_PATH, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if err := src.BindMount(d, "target.txt"); err != nil {
			t.Fatal(err)
		}
		if data, err := d.ReadFile("target.txt"); err != nil || string(data) != "source\n" {
			t.Errorf("target.txt through the broker = %q, %v; want the source's bytes", data, err)
		}
		if data, _ := os.ReadFile(filepath.Join(host, "target.txt")); string(data) != "target\n" {
			t.Errorf("host sees target.txt = %q", data)
		}
	})
}

// TestBindMountBrokerWithoutSysAdmin: the rights allow the mount but the
// broker was started without CAP_SYS_ADMIN, so the kernel refuses; the
// client gets EPERM with the broker's reason, and nothing is mounted.
func TestBindMountBrokerWithoutSysAdmin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the broker's own mount namespace needs CAP_SYS_ADMIN to make (run as root)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is needed to start the broker without CAP_SYS_ADMIN")
	}
	base := realTempDir(t)
	mountFixture(t, base)
	b := startBrokerInMountNS(t, []grantSpec{{"rw", base, "all"}}, []string{setpriv, "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"})
	if capEffective(t, b.pid())&(1<<unix.CAP_SYS_ADMIN) != 0 {
		t.Fatal("the broker still holds CAP_SYS_ADMIN: setpriv did not drop it")
	}
	before := mountinfo(t, b.pid())
	r := dial(t, b)
	d := rootDir(t, r, "rw")
	src, err := d.OpenFile("source.txt", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	err = src.BindMount(d, "target.txt")
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "CAP_SYS_ADMIN") {
		t.Fatalf("bind mount from a broker without CAP_SYS_ADMIN: %v; want EPERM naming CAP_SYS_ADMIN", err)
	}
	if mountinfo(t, b.pid()) != before {
		t.Error("the broker's mount table changed")
	}
}

// startBrokerInMountNS starts `capfd broker` (through wrapper, a command
// that execs its arguments, if given) in a new mount namespace: Go's
// Unshareflags CLONE_NEWNS also remounts "/" MS_REC|MS_PRIVATE in the
// child before exec, so nothing it mounts propagates to the host. The
// namespace dies with the broker, which the cleanup stops.
func startBrokerInMountNS(t *testing.T, grants []grantSpec, wrapper []string) *brokerProc {
	t.Helper()
	b := startBrokerWith(t, grants, brokerOptions{
		wrapper:          wrapper,
		extraArgs:        []string{"--kernel", "off"},
		attr:             &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS},
		skipOnStartError: true,
	})
	// Everything below relies on the broker mounting somewhere else.
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", b.pid()))
	if err1 != nil || err2 != nil || self == theirs {
		t.Fatalf("broker's mount namespace %q (%v) is the test's %q (%v)", theirs, err2, self, err1)
	}
	return b
}

// mountFixture makes the files a bind-mount case mounts and mounts over.
func mountFixture(t *testing.T, dir string) {
	t.Helper()
	for name, data := range map[string]string{"target.txt": "target\n", "source.txt": "source\n", "srcdir/inner.txt": "inner\n", "mnt/.keep": ""} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// realTempDir is t.TempDir with symlinks resolved, as mountinfo names it.
func realTempDir(t *testing.T) string {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func rawOpen(t *testing.T, rc *brokertest.RawClient, dir uint32, p string, flags int, r rights.Rights) uint32 {
	t.Helper()
	rep, fd := rc.Call(&wire.Request{Op: wire.OpOpen, Handle: dir, Path: p, SysFlags: uint32(flags), Pair: rights.Pair{Base: r}})
	if fd >= 0 {
		unix.Close(fd)
	}
	if rep.Err != nil {
		t.Fatalf("open %s: %+v", p, *rep.Err)
	}
	return rep.NewHandle
}

func rawOpenDir(t *testing.T, rc *brokertest.RawClient, dir uint32, p string, r rights.Rights) uint32 {
	t.Helper()
	rep, _ := rc.Call(&wire.Request{Op: wire.OpOpenDir, Handle: dir, Path: p, Pair: rights.Pair{Base: r, Inherit: r}})
	if rep.Err != nil {
		t.Fatalf("opendir %s: %+v", p, *rep.Err)
	}
	return rep.NewHandle
}

// rawReadFile reads up to 64 bytes of p through the broker; "" if it
// cannot be opened.
func rawReadFile(t *testing.T, rc *brokertest.RawClient, dir uint32, p string) string {
	t.Helper()
	rep, fd := rc.Call(&wire.Request{Op: wire.OpOpen, Handle: dir, Path: p, SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
	if fd >= 0 {
		unix.Close(fd)
	}
	if rep.Err != nil {
		return ""
	}
	h := rep.NewHandle
	defer rc.Send(&wire.Request{Op: wire.OpClose, Handle: h, Flags: wire.FlagNoReply})
	rep, _ = rc.Call(&wire.Request{Op: wire.OpRead, Handle: h, Count: 64})
	if rep.Err != nil {
		t.Fatalf("read %s: %+v", p, *rep.Err)
	}
	return string(rep.Data)
}

func mountinfo(t testing.TB, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// mountedAt reports whether mountinfo lists a mount at p (the fifth field;
// the paths here have no characters mountinfo escapes).
func mountedAt(mountinfo, p string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

// capEffective returns the effective capability set of process pid.
func capEffective(t *testing.T, pid int) uint64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no CapEff in status")
	return 0
}
