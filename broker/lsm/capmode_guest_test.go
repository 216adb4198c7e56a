//go:build linux

package lsm

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capability mode's helper operations, each the attack a row of
// TestCapMode tries.
func init() {
	port := func(s string) (int, error) { return strconv.Atoi(s) }
	loopback := func(p int) *unix.SockaddrInet4 {
		return &unix.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}}
	}
	inet := func(typ int, act func(fd int) error) error {
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		return act(fd)
	}
	unixAddr := func(name string) *unix.SockaddrUnix {
		// "@name" is abstract; x/sys/unix maps a leading '@' to NUL.
		return &unix.SockaddrUnix{Name: name}
	}
	unixSock := func(act func(fd int) error) error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		return act(fd)
	}
	more := map[string]op{
		"kill": func(a []string) (func() error, error) {
			pid, err := strconv.Atoi(a[0])
			if err != nil {
				return nil, err
			}
			sig, err := strconv.Atoi(a[1])
			if err != nil {
				return nil, err
			}
			return func() error { return unix.Kill(pid, syscall.Signal(sig)) }, nil
		},
		"tcp-connect": func(a []string) (func() error, error) {
			p, err := port(a[0])
			return func() error {
				return inet(unix.SOCK_STREAM, func(fd int) error { return unix.Connect(fd, loopback(p)) })
			}, err
		},
		"tcp-bind": func(a []string) (func() error, error) {
			p, err := port(a[0])
			return func() error {
				return inet(unix.SOCK_STREAM, func(fd int) error { return unix.Bind(fd, loopback(p)) })
			}, err
		},
		// A fast-open send connects inside the send.
		"tcp-fastopen": func(a []string) (func() error, error) {
			p, err := port(a[0])
			return func() error {
				return inet(unix.SOCK_STREAM, func(fd int) error {
					return unix.Sendto(fd, []byte("x"), unix.MSG_FASTOPEN, loopback(p))
				})
			}, err
		},
		"udp-connect": func(a []string) (func() error, error) {
			p, err := port(a[0])
			return func() error {
				return inet(unix.SOCK_DGRAM, func(fd int) error { return unix.Connect(fd, loopback(p)) })
			}, err
		},
		"unix-connect": func(a []string) (func() error, error) {
			return func() error {
				return unixSock(func(fd int) error { return unix.Connect(fd, unixAddr(a[0])) })
			}, nil
		},
		"unix-bind": func(a []string) (func() error, error) {
			return func() error {
				return unixSock(func(fd int) error {
					if a[0] == "" {
						// Autobind: a raw 2-byte address, which
						// x/sys/unix cannot spell.
						sa := [2]byte{unix.AF_UNIX, 0}
						_, _, errno := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa)), 2)
						if errno != 0 {
							return errno
						}
						return nil
					}
					return unix.Bind(fd, unixAddr(a[0]))
				})
			}, nil
		},
	}
	// An anonymous executable mapping (a JIT's) has no file: mmap_file
	// has nothing to decide.
	more["mmap-anon-exec"] = func([]string) (func() error, error) {
		return func() error {
			mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				return err
			}
			return unix.Munmap(mem)
		}, nil
	}
	for name, o := range more {
		ops[name] = o
	}
}

// TestCapMode shows capability mode's hooks, for each attack: an unmarked
// child succeeds; a child marked into a sandbox in capability mode that
// does not give the authority back is refused by the expected hook, which
// reports the denial; a child whose sandbox gives it back (a granted port,
// the whole network, abstract names, signals) succeeds: the positive
// control. A sandbox never put in capability mode (the broker's clients)
// is left alone.
func TestCapMode(t *testing.T) {
	e := loaded(t)
	listen := func(network, addr string) net.Listener {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	tcpPort := func(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }
	ungranted := listen("tcp", "127.0.0.1:0")
	granted := listen("tcp", "127.0.0.1:0")
	p, q := tcpPort(ungranted), tcpPort(granted)
	qn, _ := strconv.Atoi(q)
	pathSock := filepath.Join(t.TempDir(), "sock")
	listen("unix", pathSock)
	abstract := fmt.Sprintf("@capfd-lsm-test-%d", os.Getpid())
	listen("unix", abstract)
	parent := strconv.Itoa(os.Getpid())

	onlyQ := &CapMode{ConnectTCP: []uint16{uint16(qn)}}
	type attempt struct {
		mode *CapMode // nil: marked, but the sandbox is not in capability mode
		want error    // nil: allowed
	}
	rows := []struct {
		name string
		op   string
		args []string
		hook string
		// In args, "SIBLING" is replaced by the pid of a second child,
		// marked into the same sandbox, "OTHER" by one marked into
		// another sandbox, "PATH" by a new name in a temporary directory.
		runs []attempt
	}{
		{"signal 0 to an unmarked process", "kill", []string{parent, "0"}, "task_kill", []attempt{
			{&CapMode{}, unix.EPERM}, {&CapMode{Signal: true}, nil}, {nil, nil}}},
		{"signal to an unmarked process", "kill", []string{parent, strconv.Itoa(int(unix.SIGURG))}, "task_kill", []attempt{
			{&CapMode{}, unix.EPERM}, {&CapMode{Signal: true}, nil}}},
		{"signal 0 within the sandbox", "kill", []string{"SIBLING", "0"}, "", []attempt{
			{&CapMode{}, nil}}},
		{"signal within the sandbox", "kill", []string{"SIBLING", strconv.Itoa(int(unix.SIGURG))}, "", []attempt{
			{&CapMode{}, nil}}},
		{"signal 0 to a process of another sandbox", "kill", []string{"OTHER", "0"}, "task_kill", []attempt{
			{&CapMode{}, unix.EPERM}, {&CapMode{Signal: true}, nil}}},
		{"TCP connect to an ungranted port", "tcp-connect", []string{p}, "socket_connect", []attempt{
			{onlyQ, unix.EACCES}, {&CapMode{}, unix.EACCES}, {&CapMode{Net: true}, nil}, {nil, nil}}},
		{"TCP connect to a granted port", "tcp-connect", []string{q}, "", []attempt{
			{onlyQ, nil}}},
		{"TCP bind of an ungranted port", "tcp-bind", []string{"0"}, "socket_bind", []attempt{
			{onlyQ, unix.EACCES}, {&CapMode{BindTCP: []uint16{0}}, nil}, {&CapMode{Net: true}, nil}}},
		{"TCP fast-open send to an ungranted port", "tcp-fastopen", []string{p}, "socket_sendmsg", []attempt{
			{onlyQ, unix.EACCES}, {&CapMode{Net: true}, nil}}},
		{"TCP fast-open send to a granted port", "tcp-fastopen", []string{q}, "", []attempt{
			{onlyQ, nil}}},
		{"UDP connect to a port granted for TCP", "udp-connect", []string{p}, "socket_connect", []attempt{
			{&CapMode{ConnectTCP: []uint16{uint16(mustAtoi(t, p))}}, unix.EACCES}, {&CapMode{Net: true}, nil}}},
		{"connect to a pathname Unix socket", "unix-connect", []string{pathSock}, "socket_connect", []attempt{
			{&CapMode{}, unix.EACCES}, {&CapMode{Net: true, Abstract: true}, unix.EACCES}, {nil, nil}}},
		{"connect to an abstract Unix socket", "unix-connect", []string{abstract}, "socket_connect", []attempt{
			{&CapMode{Net: true}, unix.EACCES}, {&CapMode{Abstract: true}, nil}}},
		{"bind of an abstract Unix name", "unix-bind", []string{abstract + "-new"}, "socket_bind", []attempt{
			{&CapMode{}, unix.EACCES}, {&CapMode{Abstract: true}, nil}}},
		// (Without capability mode the file hooks decide the socket
		// file: inode_mknod, create on the directory.)
		{"bind of a pathname Unix socket", "unix-bind", []string{"PATH"}, "socket_bind", []attempt{
			{&CapMode{}, unix.EACCES}, {&CapMode{Net: true, Abstract: true}, unix.EACCES}}},
		{"autobind of a Unix socket", "unix-bind", []string{""}, "", []attempt{
			{&CapMode{}, nil}}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			args := func(sandbox uint32) ([]string, func()) {
				out := append([]string(nil), row.args...)
				done := func() {}
				for i, a := range out {
					switch a {
					case "PATH":
						out[i] = filepath.Join(t.TempDir(), "bound")
					case "SIBLING", "OTHER":
						sib := startChild(t, false, "ok")
						switch {
						case a == "OTHER":
							mark(t, e, sib.pid(), newSandbox())
						case sandbox != 0:
							mark(t, e, sib.pid(), sandbox)
						}
						out[i] = strconv.Itoa(sib.pid())
						done = func() {
							if err := sib.finish(t); err != nil {
								t.Errorf("sibling: %v", err)
							}
						}
					}
				}
				return out, done
			}
			if row.hook != "" {
				t.Run("unmarked", func(t *testing.T) {
					a, done := args(0)
					c := startChild(t, false, row.op, a...)
					err := c.finish(t)
					done()
					if err != nil {
						t.Fatalf("unmarked child: %s %q: %v (the attack must work without confinement)", row.op, a, err)
					}
				})
			}
			for i, run := range row.runs {
				name := fmt.Sprintf("marked-%d-%s", i, describe(run.mode))
				t.Run(name, func(t *testing.T) {
					sandbox := newSandbox()
					if run.mode != nil {
						if err := e.SetCapMode(sandbox, *run.mode); err != nil {
							t.Fatal(err)
						}
						t.Cleanup(func() { e.ClearCapMode(sandbox) })
					}
					a, done := args(sandbox)
					c := startChild(t, false, row.op, a...)
					mark(t, e, c.pid(), sandbox)
					err := c.finish(t)
					done()
					if run.want == nil {
						if err != nil {
							t.Fatalf("%s %q: %v, want success (the positive control)", row.op, a, err)
						}
						return
					}
					if !errors.Is(err, run.want) {
						t.Fatalf("%s %q: got %v, want %v", row.op, a, err, run.want)
					}
					d := waitDenial(t, e, sandbox)
					if d.Hook != row.hook {
						t.Errorf("denied by %s (%v), want %s", d.Hook, d, row.hook)
					}
					if row.op == "kill" && (strconv.Itoa(d.Target) != a[0] || strconv.Itoa(d.Signal) != a[1]) {
						t.Errorf("denial %v: want signal %s to pid %s", d, a[1], a[0])
					}
					if (row.op == "tcp-connect" || row.op == "tcp-fastopen") && strconv.Itoa(int(d.Port)) != a[0] {
						t.Errorf("denial %v: want port %s", d, a[0])
					}
				})
			}
		})
	}
}

func describe(c *CapMode) string {
	if c == nil {
		return "no-capmode"
	}
	var parts []string
	if len(c.ConnectTCP) > 0 {
		parts = append(parts, fmt.Sprintf("connect%v", c.ConnectTCP))
	}
	if len(c.BindTCP) > 0 {
		parts = append(parts, fmt.Sprintf("bind%v", c.BindTCP))
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{c.Net, "net"}, {c.Abstract, "abstract"}, {c.Signal, "signal"}} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "+")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSetCapMode: a sandbox is in capability mode from SetCapMode to
// ClearCapMode, with the flags given; replacing it drops the old ports.
func TestSetCapMode(t *testing.T) {
	e := loaded(t)
	sandbox := newSandbox()
	if _, ok, err := e.CapModeOf(sandbox); err != nil || ok {
		t.Fatalf("fresh sandbox: in capability mode %v, %v", ok, err)
	}
	if err := e.SetCapMode(sandbox, CapMode{ConnectTCP: []uint16{1, 2}, BindTCP: []uint16{3}, Signal: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.SetCapMode(sandbox, CapMode{ConnectTCP: []uint16{2}, Abstract: true}); err != nil {
		t.Fatal(err)
	}
	c, ok, err := e.CapModeOf(sandbox)
	if err != nil || !ok || c.Signal || !c.Abstract || c.Net {
		t.Fatalf("after replacing: %+v %v %v", c, ok, err)
	}
	var (
		key   capfdPortKey
		val   uint8
		ports []capfdPortKey
	)
	for it := e.ports.Iterate(); it.Next(&key, &val); {
		if key.Sandbox == sandbox {
			ports = append(ports, key)
		}
	}
	if len(ports) != 1 || ports[0].Port != 2 || ports[0].Op != netConnect {
		t.Errorf("ports after replacing: %+v, want connect 2 only", ports)
	}
	if err := e.ClearCapMode(sandbox); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.CapModeOf(sandbox); ok {
		t.Error("still in capability mode after ClearCapMode")
	}
	if err := e.SetCapMode(0, CapMode{}); err == nil {
		t.Error("SetCapMode accepted sandbox 0")
	}
}

// TestAnonExecMapping: a marked process with no grants at all may map
// anonymous memory executable; only file mappings need mmap-exec.
func TestAnonExecMapping(t *testing.T) {
	e := loaded(t)
	sandbox := newSandbox()
	if err := e.SetCapMode(sandbox, CapMode{}); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, false, "mmap-anon-exec")
	mark(t, e, c.pid(), sandbox)
	if err := c.finish(t); err != nil {
		t.Fatalf("marked child: anonymous PROT_EXEC mapping: %v", err)
	}
}
