package broker_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// closed closes f if there is one and returns err.
func closed(f *capfd.File, err error) error {
	if err == nil {
		f.Close()
	}
	return err
}

func dial(t testing.TB, b *brokerProc) *capfd.Remote {
	t.Helper()
	r, err := capfd.Dial(b.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func rootDir(t testing.TB, r *capfd.Remote, name string) *capfd.Dir {
	t.Helper()
	d, err := r.Dir(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestOperationsAllowedAndDenied runs each Dir and File operation through
// the broker process on a read-write grant (it works, and the file system
// shows it) and a read-only grant (ErrNotCapable, nothing changes).
func TestOperationsAllowedAndDenied(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct-io=%v", direct), func(t *testing.T) { testOperations(t, direct) })
	}
}

func testOperations(t *testing.T, direct bool) {
	rw, ro := tree(t), tree(t)
	b := startBroker(t, []grantSpec{{"rw", rw, "rw,chown"}, {"ro", ro, "ro"}}, "")
	r := dial(t, b)
	r.SetDirectIO(direct)
	type op struct {
		name string
		run  func(d *capfd.Dir) error
	}
	openRW := func(d *capfd.Dir) (*capfd.File, error) { return d.OpenFile("hello.txt", os.O_RDWR, 0) }
	withFile := func(fn func(f *capfd.File) error) func(d *capfd.Dir) error {
		return func(d *capfd.Dir) error {
			f, err := openRW(d)
			if err != nil {
				return err
			}
			defer f.Close()
			return fn(f)
		}
	}
	ops := []op{
		{"create", func(d *capfd.Dir) error { return closed(d.Create("new.txt")) }},
		{"open rdwr", func(d *capfd.Dir) error { return closed(openRW(d)) }},
		{"write", withFile(func(f *capfd.File) error { _, err := f.Write([]byte("HELLO")); return err })},
		{"write-at", withFile(func(f *capfd.File) error { _, err := f.WriteAt([]byte("J"), 0); return err })},
		{"truncate file", withFile(func(f *capfd.File) error { return f.Truncate(3) })},
		{"truncate path", func(d *capfd.Dir) error { return d.Truncate("hello.txt", 2) }},
		{"write-file", func(d *capfd.Dir) error { return d.WriteFile("w.txt", []byte("w"), 0o644) }},
		{"mkdir", func(d *capfd.Dir) error { return d.Mkdir("newdir", 0o755) }},
		{"remove", func(d *capfd.Dir) error { return d.Remove("sub/inner.txt") }},
		{"rename", func(d *capfd.Dir) error { return d.Rename("link", nil, "renamed-link") }},
		{"link", func(d *capfd.Dir) error { return d.Link("hello.txt", nil, "hard.txt") }},
		{"symlink", func(d *capfd.Dir) error { return d.Symlink("hello.txt", "sym") }},
		{"chmod", func(d *capfd.Dir) error { return d.Chmod("hello.txt", 0o600) }},
		{"chown", func(d *capfd.Dir) error { return d.Chown("hello.txt", os.Getuid(), os.Getgid()) }},
		{"chtimes", func(d *capfd.Dir) error { return d.Chtimes("hello.txt", time.Unix(1, 0), time.Unix(1, 0)) }},
		{"file chmod", withFile(func(f *capfd.File) error { return f.Chmod(0o600) })},
		{"file chtimes", withFile(func(f *capfd.File) error { return f.Chtimes(time.Unix(2, 0), time.Unix(2, 0)) })},
		{"sync", withFile(func(f *capfd.File) error { return f.Sync() })},
		{"setxattr", withFile(func(f *capfd.File) error {
			err := f.SetXattr("user.capfd", []byte("v"), 0)
			if errors.Is(err, unix.EOPNOTSUPP) {
				return nil // the file system has no user xattrs: the rights check passed
			}
			return err
		})},
		{"reopen for writing", func(d *capfd.Dir) error {
			f, err := d.Open("hello.txt")
			if err != nil {
				return err
			}
			defer f.Close()
			return closed(f.Reopen(os.O_WRONLY))
		}},
		{"opendir rw", func(d *capfd.Dir) error {
			sub, err := d.OpenDir("sub", rights.Uniform(rights.ReadWrite))
			if err == nil {
				sub.Close()
			}
			return err
		}},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			if err := o.run(rootDir(t, r, "rw")); err != nil {
				t.Errorf("read-write grant: %v", err)
			}
			err := o.run(rootDir(t, r, "ro"))
			if !errors.Is(err, capfd.ErrNotCapable) {
				t.Errorf("read-only grant: %v, want ErrNotCapable", err)
			}
		})
	}
	// The read-only tree is as it was; reads through it work.
	d := rootDir(t, r, "ro")
	if err := fstest.TestFS(d.FS(), "hello.txt", "sub/inner.txt", "link"); err != nil {
		t.Errorf("read-only tree through the broker: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(ro, "hello.txt")); string(data) != "hello, broker\n" {
		t.Errorf("read-only file changed: %q", data)
	}
	if fi, _ := os.Stat(filepath.Join(ro, "hello.txt")); fi.Mode().Perm() != 0o644 {
		t.Errorf("read-only file mode changed: %v", fi.Mode())
	}
	if _, err := d.Open("../" + filepath.Base(rw) + "/hello.txt"); !errors.Is(err, capfd.ErrEscape) {
		t.Errorf("escape through the broker: %v, want ErrEscape", err)
	}
	if _, err := d.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat missing: %v, want ErrNotExist", err)
	}
}

// TestDescriptorAccessMode checks the descriptors the broker passes: a
// read-only grant yields O_RDONLY descriptors only, whatever is asked; a
// read-write grant yields the mode that was opened.
func TestDescriptorAccessMode(t *testing.T) {
	rw, ro := tree(t), tree(t)
	b := startBroker(t, []grantSpec{{"rw", rw, "rw"}, {"ro", ro, "ro"}}, "")
	r := dial(t, b)
	accmode := func(f *capfd.File) int {
		fd := f.Fd()
		if fd == ^uintptr(0) {
			t.Fatalf("no descriptor for %s", f.Name())
		}
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fl & unix.O_ACCMODE
	}
	f, err := rootDir(t, r, "ro").Open("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m := accmode(f); m != unix.O_RDONLY {
		t.Errorf("read-only grant passed a descriptor of mode %d", m)
	}
	if _, err := unix.Write(int(f.Fd()), []byte("x")); err == nil {
		t.Error("write(2) on the passed read-only descriptor succeeded")
	}
	if err := unix.Ftruncate(int(f.Fd()), 0); err == nil {
		t.Error("ftruncate(2) on the passed read-only descriptor succeeded")
	}
	if _, err := f.Reopen(os.O_RDWR); !errors.Is(err, capfd.ErrNotCapable) {
		t.Errorf("Reopen(O_RDWR) of a read-only file: %v", err)
	}
	w, err := rootDir(t, r, "rw").OpenFile("hello.txt", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if m := accmode(w); m != unix.O_RDWR {
		t.Errorf("read-write open passed a descriptor of mode %d", m)
	}
}

// TestPipelinedOnOneConnection runs many goroutines on one Remote: their
// requests share the connection, are pipelined, and every reply reaches
// its caller.
func TestPipelinedOnOneConnection(t *testing.T) {
	dir := tree(t)
	for i := range 32 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), []byte(strings.Repeat(string(rune('a'+i%26)), i+1)), 0o644)
	}
	b := startBroker(t, []grantSpec{{"data", dir, "ro"}}, "")
	d := rootDir(t, dial(t, b), "data")
	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for g := range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := g % 32
			name := fmt.Sprintf("f%02d", i)
			data, err := d.ReadFile(name)
			want := strings.Repeat(string(rune('a'+i%26)), i+1)
			if err != nil || string(data) != want {
				errs <- fmt.Errorf("%s: %q, %v", name, data, err)
				return
			}
			fi, err := d.Stat(name)
			if err != nil || fi.Size() != int64(i+1) {
				errs <- fmt.Errorf("stat %s: %v, %v", name, fi, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentClients serves 64 clients at once, each writing and reading
// its own files, then checks every handle was released.
func TestConcurrentClients(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, []grantSpec{{"scratch", dir, "rw"}}, "")
	const clients = 64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := capfd.Dial(b.socket)
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			d, err := r.Dir("scratch")
			if err != nil {
				errs <- err
				return
			}
			defer d.Close()
			<-start
			name := fmt.Sprintf("client-%02d", c)
			if err := d.Mkdir(name, 0o755); err != nil {
				errs <- err
				return
			}
			for i := range 10 {
				p := fmt.Sprintf("%s/%d", name, i)
				want := fmt.Sprintf("client %d file %d", c, i)
				if err := d.WriteFile(p, []byte(want), 0o644); err != nil {
					errs <- err
					return
				}
				got, err := d.ReadFile(p)
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: %q, %v", p, got, err)
					return
				}
			}
		}()
	}
	testwait.Until(t, "64 clients connected", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_clients") == clients })
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	testwait.Until(t, "all clients gone", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_clients") == 0 })
	if h := b.metric(t, "capfd_broker_handles"); h != 0 {
		t.Errorf("%v handles open after every client left", h)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != clients {
		t.Errorf("%d client directories, want %d", len(ents), clients)
	}
}

// TestClientKilledMidRequest kills a client process (SIGKILL) while it
// holds handles and waits on a request: the broker frees its handles (the
// metrics show it), answers nothing to the dead, and keeps serving others.
func TestClientKilledMidRequest(t *testing.T) {
	dir := tree(t)
	lockFD, err := unix.Open(filepath.Join(dir, "hello.txt"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lockFD)
	unix.Flock(lockFD, unix.LOCK_EX)

	b := startBroker(t, []grantSpec{{"data", dir, "ro"}}, "")
	other := rootDir(t, dial(t, b), "data") // a bystander, connected throughout
	baseHandles := b.metric(t, "capfd_broker_handles")
	baseFDs := b.fds(t)

	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CAPFD_E2E_ROLE=client-hold", "CAPFD_E2E_SOCKET="+b.socket)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("client said %q", line)
	}
	// The root dup and 20 files, and the lock request in flight.
	testwait.Until(t, "the client's handles are open", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_handles") >= baseHandles+21 })
	testwait.Until(t, "the lock request is in flight", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_inflight") == 1 })
	cmd.Process.Signal(os.Kill)
	cmd.Wait()

	testwait.Until(t, "the dead client's handles are freed", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_handles") == baseHandles })
	unix.Flock(lockFD, unix.LOCK_UN) // the broker's blocked flock returns; its reply has nowhere to go
	testwait.Until(t, "the broker's descriptors are back to where they were", asyncTimeout, func() bool { return b.fds(t) == baseFDs })
	if data, err := other.ReadFile("hello.txt"); err != nil || string(data) != "hello, broker\n" {
		t.Fatalf("the bystander is no longer served: %q, %v", data, err)
	}
	if _, err := capfd.Dial(b.socket); err != nil {
		t.Fatalf("a new client cannot connect: %v", err)
	}
}

// TestMalformedAndOversized sends the broker process garbage (with
// descriptors) and oversized messages: clear errors, the broker stays up,
// and it keeps none of the descriptors.
func TestMalformedAndOversized(t *testing.T) {
	dir := tree(t)
	b := startBroker(t, []grantSpec{{"data", dir, "ro"}}, "max_message: 8192")
	baseFDs := b.fds(t)
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: b.socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	conn := wire.NewConn(uc)
	buf := make([]byte, wire.MaxMessage)
	send := func(msg []byte, nfds int) {
		t.Helper()
		var oob []byte
		var fds []int
		for range nfds {
			fd, _ := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			fds = append(fds, fd)
		}
		if nfds > 0 {
			oob = unix.UnixRights(fds...)
		}
		if _, _, err := uc.WriteMsgUnix(msg, oob, nil); err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	hello, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpHello, VersionMin: 1, VersionMax: 1})
	send(hello, 0)
	rep, _, err := conn.RecvReply(buf)
	if err != nil || rep.Err != nil {
		t.Fatalf("hello: %v %+v", err, rep.Err)
	}
	if rep.Limits.MaxMessage != 8192 {
		t.Errorf("broker announced max message %d, want 8192", rep.Limits.MaxMessage)
	}
	root := rep.Roots[0].Handle
	oversized, _ := wire.AppendRequest(nil, &wire.Request{ID: 7, Op: wire.OpWrite, Handle: root, Data: make([]byte, 9000)})
	stat, _ := wire.AppendRequest(nil, &wire.Request{ID: 8, Op: wire.OpStat, Handle: root, Path: "hello.txt"})
	cases := []struct {
		name string
		msg  []byte
		fds  int
		id   uint32
		want string
	}{
		{"garbage with fds", []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), 4, 0, "descriptors"},
		{"garbage", []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), 0, 0, "bad magic"},
		{"oversized", oversized, 0, 7, "larger than"},
		{"oversized with an fd", oversized, 1, 7, "larger than"},
		{"request with an fd", stat, 1, 8, "descriptor"},
		{"truncated", stat[:len(stat)-3], 0, 8, "body length"},
	}
	for _, c := range cases {
		send(c.msg, c.fds)
		rep, fd, err := conn.RecvReply(buf)
		if err != nil || fd >= 0 {
			t.Fatalf("%s: %v (fd %d)", c.name, err, fd)
		}
		if rep.Err == nil || rep.Err.Code != wire.CodeProtocol || rep.ID != c.id || !strings.Contains(rep.Err.Message, c.want) {
			t.Errorf("%s: reply %d %+v, want protocol error for %d mentioning %q", c.name, rep.ID, rep.Err, c.id, c.want)
		}
	}
	send(stat, 0)
	if rep, _, err := conn.RecvReply(buf); err != nil || rep.Err != nil || rep.Stat.Size != 14 {
		t.Fatalf("stat after garbage: %v %+v", err, rep.Err)
	}
	uc.Close()
	testwait.Until(t, "the broker's descriptors are back to where they were", asyncTimeout, func() bool { return b.fds(t) == baseFDs })
	if b.metric(t, "capfd_broker_malformed_messages_total") != float64(len(cases)) {
		t.Errorf("malformed counter %v, want %d", b.metric(t, "capfd_broker_malformed_messages_total"), len(cases))
	}
}

// TestNoDescriptorLeak opens, passes and closes many descriptors through
// the broker from several clients, then checks the broker holds exactly
// the descriptors it held before.
func TestNoDescriptorLeak(t *testing.T) {
	dir := tree(t)
	b := startBroker(t, []grantSpec{{"data", dir, "ro"}}, "")
	base := b.fds(t)
	for range 4 {
		r, err := capfd.Dial(b.socket)
		if err != nil {
			t.Fatal(err)
		}
		d, err := r.Dir("data")
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			f, err := d.Open("hello.txt")
			if err != nil {
				t.Fatal(err)
			}
			if f.Fd() == ^uintptr(0) {
				t.Fatal("no descriptor passed")
			}
			io.ReadAll(f)
			f.Close()
		}
		d.ReadDir("sub")
		// Leave handles open on purpose: disconnecting must free them.
		d.Open("hello.txt")
		r.Close()
	}
	testwait.Until(t, "the broker's descriptors are back to where they were", asyncTimeout, func() bool { return b.fds(t) == base })
	testwait.Until(t, "no handles", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_handles") == 0 })
}

// TestCLIVerbs runs capfd ls, cat and stat against the broker process.
func TestCLIVerbs(t *testing.T) {
	dir := tree(t)
	b := startBroker(t, []grantSpec{{"data", dir, "ro"}}, "")
	run := func(args ...string) (string, int) {
		out, err := exec.Command(capfdBin, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := run("ls", "--socket", b.socket); code != 0 || out != "data/\n" {
		t.Errorf("ls roots: %q (exit %d)", out, code)
	}
	if out, code := run("ls", "--socket", b.socket, "data"); code != 0 || out != "hello.txt\nlink\nsub/\n" {
		t.Errorf("ls data: %q (exit %d)", out, code)
	}
	if out, code := run("cat", "--socket", b.socket, "data/sub/inner.txt"); code != 0 || out != "inner" {
		t.Errorf("cat: %q (exit %d)", out, code)
	}
	if out, code := run("stat", "--socket", b.socket, "data/hello.txt"); code != 0 || !strings.Contains(out, "size: 14") {
		t.Errorf("stat: %q (exit %d)", out, code)
	}
	if out, code := run("cat", "--socket", b.socket, "data/../../etc/passwd"); code == 0 || !strings.Contains(out, "escapes") {
		t.Errorf("cat escape: %q (exit %d)", out, code)
	}
	if out, code := run("cat", "--socket", b.socket, "nope/x"); code == 0 || !strings.Contains(out, "grants no directory") {
		t.Errorf("cat unknown root: %q (exit %d)", out, code)
	}
}

// TestSIGTERM checks the broker exits 0 on SIGTERM and removes its socket.
func TestSIGTERM(t *testing.T) {
	b := startBroker(t, []grantSpec{{"data", tree(t), "ro"}}, "")
	dial(t, b)
	b.stop(t)
	if b.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("exit code %d", b.cmd.ProcessState.ExitCode())
	}
	if _, err := os.Lstat(b.socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestExecThroughBroker runs a program from a descriptor the broker passes
// (the exec right), and is refused without the right.
func TestExecThroughBroker(t *testing.T) {
	if _, err := os.Stat("/usr/bin/echo"); err != nil {
		t.Skip("needs /usr/bin/echo")
	}
	for _, tc := range []struct {
		rights string
		code   int
		out    string
	}{
		{"rx", 0, "executed through the broker\n"},
		{"ro", 3, ""},
	} {
		b := startBroker(t, []grantSpec{{"bin", "/usr/bin", tc.rights}}, "")
		exe, _ := os.Executable()
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "CAPFD_E2E_ROLE=client-exec", "CAPFD_E2E_SOCKET="+b.socket)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || string(out) != tc.out {
			t.Errorf("grant %s: exit %d, output %q (stderr %q); want exit %d, output %q", tc.rights, code, out, stderr.String(), tc.code, tc.out)
		}
	}
}

// TestDenialAuditedAndCounted sends requests a read-only grant does not
// allow straight over the wire (as a compromised client would: capfd's own
// client refuses them before they are sent): the broker process refuses
// them, counts each missing right, and writes a denial record naming them.
func TestDenialAuditedAndCounted(t *testing.T) {
	dir := tree(t)
	b := startBroker(t, []grantSpec{{"data", dir, "ro"}}, "")
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: b.socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	conn := wire.NewConn(uc)
	buf := make([]byte, wire.MaxMessage)
	call := func(req *wire.Request) wire.Reply {
		t.Helper()
		msg, err := wire.AppendRequest(nil, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Send(msg, -1); err != nil {
			t.Fatal(err)
		}
		rep, fd, err := conn.RecvReply(buf)
		if err != nil {
			t.Fatal(err)
		}
		if fd >= 0 {
			unix.Close(fd)
		}
		return rep
	}
	hello := call(&wire.Request{ID: 1, Op: wire.OpHello, VersionMin: 1, VersionMax: 1})
	root := hello.Roots[0].Handle
	for i, req := range []*wire.Request{
		{Op: wire.OpMkdir, Handle: root, Path: "evil", Mode: 0o755},
		{Op: wire.OpOpen, Handle: root, Path: "hello.txt", SysFlags: unix.O_WRONLY | unix.O_TRUNC, Pair: rights.Pair{Base: rights.Write | rights.Truncate}},
	} {
		req.ID = uint32(10 + i)
		if rep := call(req); rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
			t.Fatalf("%v on a read-only grant: %+v", req.Op, rep.Err)
		}
	}
	if got := b.metric(t, `capfd_broker_denials_total{right="mkdir"}`); got != 1 {
		t.Errorf("mkdir denials %v, want 1", got)
	}
	if got := b.metric(t, `capfd_broker_operations_total{op="open",result="denied"}`); got != 1 {
		t.Errorf("open denials %v, want 1", got)
	}
	audit, err := os.ReadFile(b.audit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), `"msg":"denied"`) || !strings.Contains(string(audit), `"path":"evil"`) || !strings.Contains(string(audit), `"missing":"mkdir"`) {
		t.Errorf("audit log lacks the denial:\n%s", audit)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
		t.Error("the denied mkdir happened")
	}
}

// TestMetricsLoopbackOnly checks the broker refuses to serve metrics on a
// non-loopback address unless the configuration forces it.
func TestMetricsLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(force bool) string {
		cfg := fmt.Sprintf("socket: %s/s.sock\nmetrics: {address: \"0.0.0.0:0\", allow_non_loopback: %v}\nclients: []\n", dir, force)
		p := filepath.Join(dir, fmt.Sprintf("b-%v.yaml", force))
		os.WriteFile(p, []byte(cfg), 0o600)
		return p
	}
	out, err := exec.Command(capfdBin, "broker", "--config", write(false)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not loopback") {
		t.Errorf("non-loopback metrics: %v\n%s", err, out)
	}
	cmd := exec.Command(capfdBin, "broker", "--config", write(true))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	listening := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "msg=listening") {
			listening = true
			break
		}
	}
	cmd.Process.Signal(os.Interrupt)
	go io.Copy(io.Discard, stderr)
	cmd.Wait()
	if !listening {
		t.Error("with allow_non_loopback the broker did not start")
	}
}
