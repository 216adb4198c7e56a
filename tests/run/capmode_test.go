package run

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/landlock"
)

// Capability mode beyond files: each test makes one use of ambient
// authority with testdata/ambient, shows it works unconfined, fails under
// `capfd run` by default, and works again with the flag that gives it
// back (the positive control).

// ambient runs the attacker unconfined, or under capfd run with flags
// when confined, and reports whether the attempt worked.
func ambient(t *testing.T, confined bool, flags []string, op string, args ...string) (bool, outcome) {
	t.Helper()
	argv := append([]string{bin.ambient, op}, args...)
	var o outcome
	if confined {
		o = capfdRun(t, t.TempDir(), append([]string{"-q", "--grant", bin.dir + "=rx"}, flags...), argv...)
	} else {
		o = run(t, t.TempDir(), argv...)
	}
	return o.code == 0 && strings.HasSuffix(o.stdout, "ok\n"), o
}

// attack asserts the attempt works unconfined and fails confined with
// flags.
func attack(t *testing.T, flags []string, op string, args ...string) {
	t.Helper()
	if ok, o := ambient(t, false, nil, op, args...); !ok {
		t.Fatalf("unconfined %s %v failed, so the test shows nothing: %+v", op, args, o)
	}
	if ok, o := ambient(t, true, flags, op, args...); ok {
		t.Errorf("%s %v under capfd run %v: worked, want refused\nstderr: %s", op, args, flags, o.stderr)
	}
}

// granted asserts the attempt works confined with flags.
func granted(t *testing.T, flags []string, op string, args ...string) {
	t.Helper()
	if ok, o := ambient(t, true, flags, op, args...); !ok {
		t.Errorf("%s %v under capfd run %v: refused, want allowed: %+v", op, args, flags, o)
	}
}

func refused(t *testing.T, flags []string, op string, args ...string) {
	t.Helper()
	if ok, o := ambient(t, true, flags, op, args...); ok {
		t.Errorf("%s %v under capfd run %v: worked, want refused\nstderr: %s", op, args, flags, o.stderr)
	}
}

// tcpListener listens on a free loopback port until the test ends and
// returns the port.
func tcpListener(t *testing.T) int {
	t.Helper()
	return listen(t, "tcp", "127.0.0.1:0").(*net.TCPAddr).Port
}

// listen accepts (and closes) connections on network, address until the
// test ends, and returns the address listened on.
func listen(t *testing.T, network, address string) net.Addr {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr()
}

// freePort is a loopback TCP port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func TestCapmodeTCP(t *testing.T) {
	requireRun(t)
	if abi, err := landlock.Probe(); err != nil || abi < 4 {
		t.Skipf("Landlock TCP rules need ABI 4 (Linux 6.7): %v %v", abi, err)
	}
	port, other := tcpListener(t), tcpListener(t)
	addr := loopback(port)
	grant := []string{"--connect", "tcp:" + strconv.Itoa(port)}

	attack(t, nil, "tcp-connect", addr)
	granted(t, grant, "tcp-connect", addr)
	// Granted one port, the kernel refuses the others.
	refused(t, grant, "tcp-connect", loopback(other))
	granted(t, []string{"--allow-net"}, "tcp-connect", loopback(other))

	// A fast-open send connects inside sendto, past Landlock's connect
	// hook: refused where only some ports are granted.
	attack(t, []string{"--connect", "tcp:" + strconv.Itoa(other)}, "tcp-fastopen", addr)

	bind := freePort(t)
	attack(t, nil, "tcp-bind", loopback(bind))
	refused(t, grant, "tcp-bind", loopback(bind))
	granted(t, []string{"--bind", "tcp:" + strconv.Itoa(bind)}, "tcp-bind", loopback(bind))
	refused(t, []string{"--bind", "tcp:" + strconv.Itoa(bind)}, "tcp-bind", loopback(freePort(t)))
}

// TestCapmodeUDP: Landlock cannot see UDP (before ABI 10), so UDP sockets
// are refused even where TCP is granted, and come back only with the
// whole network.
func TestCapmodeUDP(t *testing.T) {
	requireRun(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	attack(t, nil, "udp-send", addr)
	refused(t, []string{"--connect", "tcp:53"}, "udp-send", addr)
	granted(t, []string{"--allow-net"}, "udp-send", addr)
}

// unixListener listens on a stream socket at name ("@x" is abstract).
func unixListener(t *testing.T, name string) {
	t.Helper()
	listen(t, "unix", name)
}

func TestCapmodeAbstractSocket(t *testing.T) {
	requireRun(t)
	name := fmt.Sprintf("@capfd-test-%d-%s", os.Getpid(), t.Name())
	unixListener(t, name)
	attack(t, nil, "unix-connect", name)
	granted(t, []string{"--allow-abstract"}, "unix-connect", name)
	// A program binding an abstract name could squat one that a service
	// outside expects to own.
	squat := name + "-squat"
	attack(t, nil, "unix-bind", squat)
	granted(t, []string{"--allow-abstract"}, "unix-bind", squat)
}

// TestCapmodeUnixDatagram: a datagram socket can address any socket on
// the host with each send, so none can be created.
func TestCapmodeUnixDatagram(t *testing.T) {
	requireRun(t)
	target := filepath.Join(t.TempDir(), "dgram.sock")
	pc, err := net.ListenPacket("unixgram", target)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	attack(t, nil, "unix-dgram-send", target)
	// --allow-net leaves sendto's address to the kernel, which in the
	// brokered mode resolves it on the host's filesystem; in kernel mode
	// it resolves it in the view, where a socket outside the grants does
	// not exist.
	granted(t, []string{"--allow-net", "--mode", "brokered"}, "unix-dgram-send", target)
	attack(t, []string{"--allow-net", "--mode", "kernel"}, "unix-dgram-send", target)
	granted(t, []string{"--allow-net", "--mode", "kernel", "--grant", filepath.Dir(target) + "=lookup,connect"}, "unix-dgram-send", target)
}

// victim is a process outside the sandbox; killed reports whether it died
// of SIGKILL (rather than of the SIGTERM killed sends it).
func victim(t *testing.T) (pid int, killed func() bool) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd.Process.Pid, func() bool {
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() {
			t.Fatalf("victim: %v", err)
		}
		return ws.Signal() == syscall.SIGKILL
	}
}

func TestCapmodeSignals(t *testing.T) {
	requireRun(t)
	pid, killed := victim(t)
	if ok, o := ambient(t, false, nil, "kill", strconv.Itoa(pid)); !ok || !killed() {
		t.Fatalf("unconfined kill failed, so the test shows nothing: %+v", o)
	}
	// In a PID namespace outside processes have no number; without one,
	// Landlock's signal scope refuses them.
	for _, noNS := range []string{"0", "1"} {
		t.Run("no-namespace="+noNS, func(t *testing.T) {
			t.Setenv("CAPFD_RUN_NO_NAMESPACE", noNS)
			if noNS == "1" {
				if abi, err := landlock.Probe(); err != nil || abi < 6 {
					t.Skipf("Landlock signal scoping needs ABI 6 (Linux 6.12): %v %v", abi, err)
				}
			}
			pid, killed := victim(t)
			if ok, o := ambient(t, true, nil, "kill", strconv.Itoa(pid)); ok || killed() {
				t.Errorf("kill of an outside process under capfd run: worked (%+v)", o)
			}
			if noNS == "1" {
				pid, killed := victim(t)
				if ok, o := ambient(t, true, []string{"--allow-signal"}, "kill", strconv.Itoa(pid)); !ok || !killed() {
					t.Errorf("kill under --allow-signal: refused (%+v)", o)
				}
			}
		})
	}
	// Signals inside the sandbox still work.
	o := capfdRun(t, t.TempDir(), nil, "sh", "-c", `sleep 600 & kill -KILL $! && wait $!; echo $?`)
	if strings.TrimSpace(o.stdout) != "137" {
		t.Errorf("kill of the program's own child: %+v", o)
	}
}

func TestCapmodeSysVShm(t *testing.T) {
	requireRun(t)
	key := 0x6361_0000 | os.Getpid()&0xffff
	id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(mem)
	copy(mem, "clean")
	attack(t, nil, "shm", strconv.Itoa(key))
	if string(mem[:5]) != "pwned" {
		t.Fatalf("the unconfined attack did not write: %q", mem[:5])
	}
	copy(mem, "clean")
	refused(t, nil, "shm", strconv.Itoa(key))
	if string(mem[:5]) != "clean" {
		t.Errorf("confined program wrote shared memory: %q", mem[:5])
	}
}

func TestCapmodeKeyring(t *testing.T) {
	requireRun(t)
	defer func() {
		if id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", "capfd-ambient-test", 0); err == nil {
			unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
		}
	}()
	attack(t, nil, "add-key")
}

func TestCapmodeNamespaces(t *testing.T) {
	requireRun(t)
	attack(t, nil, "new-userns")
	if os.Geteuid() == 0 {
		attack(t, []string{"--keep-caps"}, "setns-self")
	}
}

// TestCapmodeGlobalObjects: the other global namespaces and kernel
// interfaces capability mode closes, each refused whatever is granted.
func TestCapmodeGlobalObjects(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: bpf, userfaultfd and perf events need privilege unconfined")
	}
	for _, op := range []string{"mq-open", "bpf-map", "perf-open", "userfaultfd"} {
		t.Run(op, func(t *testing.T) {
			attack(t, []string{"--keep-caps", "--allow-net"}, op)
		})
	}
}

// TestCapmodeNetlink: libc's getaddrinfo reads interface addresses from a
// NETLINK_ROUTE socket, so a TCP grant allows that one; sock_diag, which
// lists every socket of the host, stays refused.
func TestCapmodeNetlink(t *testing.T) {
	requireRun(t)
	attack(t, nil, "netlink", "0")
	granted(t, []string{"--connect", "tcp:80"}, "netlink", "0")
	attack(t, []string{"--connect", "tcp:80"}, "netlink", "4")
	granted(t, []string{"--allow-net"}, "netlink", "4")
}

// pty opens a pseudo-terminal pair.
func pty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// onTerminal runs argv in a new session whose controlling terminal is
// slave, as an interactive shell runs its commands, and returns its output.
func onTerminal(t *testing.T, slave *os.File, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	out, _ := cmd.Output()
	return string(out)
}

// TestCapmodeTerminal: TIOCSTI pushes characters into the terminal's
// input, where the caller's shell reads them after capfd run exits and
// runs them outside the sandbox.
func TestCapmodeTerminal(t *testing.T) {
	requireRun(t)
	_, slave := pty(t)
	if out := onTerminal(t, slave, bin.ambient, "tiocsti"); out != "ok\n" {
		t.Skipf("TIOCSTI does not work here even unconfined (dev.tty.legacy_tiocsti=0?): %q", out)
	}
	capfd := []string{bin.capfd, "run", "-q", "--grant", bin.dir + "=rx"}
	// TIOCLINUX (whose paste reaches a console's input) means something
	// on a virtual console only, so here the kernel answers ENOTTY;
	// under capfd run the filter answers first.
	if out := onTerminal(t, slave, bin.ambient, "tioclinux"); out != "ENOTTY\nok\n" {
		t.Errorf("plain TIOCLINUX on a pty: %q, want ENOTTY", out)
	}
	for _, flags := range [][]string{nil, {"--same-session"}} {
		argv := append(append(append([]string{}, capfd...), flags...), "--", bin.ambient, "tioclinux")
		if out := onTerminal(t, slave, argv...); out != "EPERM\nok\n" {
			t.Errorf("TIOCLINUX under capfd run %v: %q, want EPERM from the filter", flags, out)
		}
	}
	for _, flags := range [][]string{nil, {"--same-session"}} {
		argv := append(append(append([]string{}, capfd...), flags...), "--", bin.ambient, "tiocsti")
		if out := onTerminal(t, slave, argv...); out == "ok\n" {
			t.Errorf("TIOCSTI under capfd run %v: worked", flags)
		}
	}
	// The program has a terminal of its own (the relay's), its
	// controlling terminal; under --same-session it has the caller's.
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	callers := fmt.Sprintf("rdev=%d ctty=yes\n", st.Rdev)
	for flags, wantCallers := range map[string]bool{"": false, "--same-session": true} {
		argv := append([]string{}, capfd...)
		if flags != "" {
			argv = append(argv, flags)
		}
		argv = append(argv, "--", bin.ambient, "tty")
		out := onTerminal(t, slave, argv...)
		switch {
		case wantCallers && !strings.HasPrefix(out, callers):
			t.Errorf("capfd run %s: %q, want the caller's terminal (%q)", flags, out, callers)
		case !wantCallers && (strings.HasPrefix(out, callers) || !strings.Contains(out, "ctty=yes")):
			t.Errorf("capfd run %s: %q, want a controlling terminal of its own", flags, out)
		}
	}
}

// TestCapmodeTerminalRelay: through its own terminal, an interactive
// program still reads what is typed on the caller's and writes to it.
func TestCapmodeTerminalRelay(t *testing.T) {
	requireRun(t)
	master, slave := pty(t)
	cmd := exec.Command(bin.capfd, "run", "-q", "--grant", bin.dir+"=rx", "--", "sh", "-c", `read line; echo "got $line"; exec "$0" tty`, bin.ambient)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if _, err := master.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	// The caller's terminal, read until the program's answer is there.
	chunks := make(chan []byte)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 256)
			n, err := master.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	var out []byte
	timeout := time.After(30 * time.Second)
	for !strings.Contains(string(out), "ctty=") || !strings.Contains(string(out), "got typed") {
		select {
		case b, ok := <-chunks:
			if !ok {
				t.Fatalf("the caller's terminal closed; read %q", out)
			}
			out = append(out, b...)
		case err := <-exited:
			t.Fatalf("capfd run ended (%v) before its answer; read %q", err, out)
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("no answer on the caller's terminal in 30s; read %q", out)
		}
	}
	if err := <-exited; err != nil {
		t.Fatalf("capfd run: %v; output %q", err, out)
	}
	// The program's terminal is its controlling terminal, and not the
	// caller's.
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "ctty=yes") || strings.Contains(string(out), fmt.Sprintf("rdev=%d ", st.Rdev)) {
		t.Errorf("want a controlling terminal other than the caller's (rdev %d): %q", st.Rdev, out)
	}
	// The caller's terminal is given its mode back.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("the caller's terminal is left raw: %+v %v", tio, err)
	}
}

func TestCapmodeEnvironment(t *testing.T) {
	requireRun(t)
	t.Setenv("CAPFD_TEST_SECRET", "s3cr3t")
	if ok, o := ambient(t, false, nil, "getenv", "CAPFD_TEST_SECRET"); !ok {
		t.Fatalf("unconfined: %+v", o)
	}
	refused(t, nil, "getenv", "CAPFD_TEST_SECRET")
	granted(t, []string{"--env", "CAPFD_TEST_SECRET"}, "getenv", "CAPFD_TEST_SECRET")
	granted(t, []string{"--keep-env"}, "getenv", "CAPFD_TEST_SECRET")
	granted(t, nil, "getenv", "PATH")
	if _, o := ambient(t, true, []string{"--env", "CAPFD_TEST_SECRET=other"}, "getenv", "CAPFD_TEST_SECRET"); o.stdout != "other\nok\n" {
		t.Errorf("--env NAME=VALUE: %+v", o)
	}
}

// TestCapmodeUnixPathSocket: a pathname socket is a file, reached only
// through a grant with the connect right on it (think /run/docker.sock).
func TestCapmodeUnixPathSocket(t *testing.T) {
	requireRun(t)
	root := t.TempDir()
	inside, outside := filepath.Join(root, "granted"), filepath.Join(root, "outside")
	for _, d := range []string{inside, outside} {
		mkdir(t, d)
	}
	in, out := filepath.Join(inside, "in.sock"), filepath.Join(outside, "out.sock")
	unixListener(t, in)
	unixListener(t, out)
	connect := []string{"--grant", inside + "=lookup,connect"}

	attack(t, nil, "unix-connect", out)
	refused(t, connect, "unix-connect", out)
	granted(t, connect, "unix-connect", in)
	// Through a symlink in the grant: decided on the socket reached.
	if err := os.Symlink(out, filepath.Join(inside, "link.sock")); err != nil {
		t.Fatal(err)
	}
	refused(t, connect, "unix-connect", filepath.Join(inside, "link.sock"))
	// Read-write is not connect.
	refused(t, []string{"--grant", inside + "=rw"}, "unix-connect", in)

	// bind makes a socket file: create in the directory.
	attack(t, nil, "unix-bind", filepath.Join(outside, "new.sock"))
	granted(t, []string{"--grant", inside + "=rw"}, "unix-bind", filepath.Join(inside, "new.sock"))
	if fi, err := os.Lstat(filepath.Join(inside, "new.sock")); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("bind under capfd run made no socket file: %v %v", fi, err)
	}
	refused(t, []string{"--grant", inside + "=ro"}, "unix-bind", filepath.Join(inside, "new2.sock"))
	// The socket file gets the program's umask, not the supervisor's.
	private := filepath.Join(inside, "private.sock")
	o := capfdRun(t, root, []string{"-q", "--grant", bin.dir + "=rx", "--grant", inside + "=rw"},
		"sh", "-c", `umask 077; exec "$0" unix-bind "$1"`, bin.ambient, private)
	if fi, err := os.Lstat(private); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket bound under umask 077: %v %v (%+v)", fi, err, o)
	}
}

// TestCapmodeUnixPeerIdentity: the supervisor connects for the program,
// so the server sees the supervisor's credentials; it must never do so for
// a program whose credentials differ (one that dropped privileges), or a
// server would take it for root.
func TestCapmodeUnixPeerIdentity(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the program as another uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	unixListener(t, sock)
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-q", "--keep-caps", "--grant", bin.dir + "=rx", "--grant", dir + "=lookup,connect"}
	as := func(uid string) outcome {
		return capfdRun(t, t.TempDir(), flags, setpriv, "--reuid="+uid, "--regid="+uid, "--clear-groups", bin.ambient, "unix-connect", sock)
	}
	if o := as("0"); o.code != 0 {
		t.Fatalf("connect as root, the supervisor's own uid: %+v", o)
	}
	if o := as("65534"); o.code == 0 || !strings.Contains(o.stdout, "permission denied") {
		t.Errorf("connect as uid 65534 through a root supervisor: %+v, want EACCES", o)
	}
}

// TestCapmodeInheritedSocket: descriptors handed in keep working, the
// Capsicum way: a connected TCP socket as stdout, with no network given
// back.
func TestCapmodeInheritedSocket(t *testing.T) {
	requireRun(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	sock, err := conn.(*net.TCPConn).File()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	cmd := exec.Command(bin.capfd, "run", "-q", "--", "sh", "-c", "echo through-the-socket")
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = sock, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("capfd run: %v\n%s", err, stderr.String())
	}
	sock.Close()
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "through-the-socket\n" {
		t.Errorf("the peer read %q, %v", got, err)
	}
}

// TestCapmodeUnprivileged: the same attacks by a program of an
// unprivileged user, capfd run launched by that user (a user and PID
// namespace instead of a PID namespace; no capabilities to drop).
func TestCapmodeUnprivileged(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	allowUnprivileged(t, t.TempDir())
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	as := func(confined bool, op string, args ...string) (bool, outcome) {
		argv := append([]string{bin.ambient, op}, args...)
		if confined {
			argv = append([]string{bin.capfd, "run", "-q", "--grant", bin.dir + "=rx", "--"}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return err == nil && strings.HasSuffix(stdout.String(), "ok\n"), outcome{stdout: stdout.String(), stderr: stderr.String()}
	}
	port := tcpListener(t)
	abstract := fmt.Sprintf("@capfd-test-%d-unpriv", os.Getpid())
	unixListener(t, abstract)
	sockDir := t.TempDir()
	allowUnprivileged(t, sockDir)
	sock := filepath.Join(sockDir, "s.sock")
	unixListener(t, sock)
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	victim := exec.Command("sleep", "600")
	victim.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer victim.Process.Kill()
	key := 0x6362_0000 | os.Getpid()&0xffff
	id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)

	for _, a := range [][]string{
		{"tcp-connect", loopback(port)},
		{"unix-connect", abstract},
		{"unix-connect", sock},
		{"shm", strconv.Itoa(key)},
		{"add-key"},
		{"kill", "0"}, // replaced below: the victim's pid, signalled last
	} {
		op, args := a[0], a[1:]
		if op == "kill" {
			args = []string{strconv.Itoa(victim.Process.Pid)}
			// Confined first: the unconfined attempt kills it.
			if ok, o := as(true, op, args...); ok {
				t.Errorf("kill of the user's own outside process under capfd run: worked (%+v)", o)
			}
		}
		if ok, o := as(false, op, args...); !ok {
			t.Errorf("unconfined %s %v as uid 65534 failed, so this shows nothing: %+v", op, args, o)
			continue
		}
		if op == "kill" {
			continue
		}
		if ok, o := as(true, op, args...); ok {
			t.Errorf("%s %v as uid 65534 under capfd run: worked\nstderr: %s", op, args, o.stderr)
		}
	}
}
