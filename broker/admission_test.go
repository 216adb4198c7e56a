package broker

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// serving runs srv.Serve on a fresh socket until the test ends.
func serving(t *testing.T, srv *Server) string {
	t.Helper()
	path, _ := brokertest.Listen(t, "", srv.Serve)
	return path
}

func rawDial(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return uc
}

// goodbyeOf reads what the broker sends before it closes: one error reply
// with request id 0, then the end of the connection.
func goodbyeOf(t *testing.T, uc *net.UnixConn) *wire.ErrorReply {
	t.Helper()
	c := wire.NewConn(uc)
	buf := make([]byte, wire.MaxMessage)
	rep, _, err := c.RecvReply(buf)
	if err != nil {
		t.Fatalf("the broker closed without an error reply: %v", err)
	}
	if rep.ID != 0 || rep.Err == nil {
		t.Fatalf("last message %+v, want an error reply with id 0", rep)
	}
	if _, _, err := c.RecvReply(buf); !errors.Is(err, io.EOF) && !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("after the error reply: %v, want the end of the connection", err)
	}
	return rep.Err
}

// wantGoodbye reads the broker's parting error on uc (goodbyeOf) and
// fails t unless it has code and errno and its message contains msg; who
// names the connection.
func wantGoodbye(t *testing.T, uc *net.UnixConn, who string, code wire.Code, errno unix.Errno, msg string) {
	t.Helper()
	if er := goodbyeOf(t, uc); er.Code != code || unix.Errno(er.Errno) != errno || !strings.Contains(er.Message, msg) {
		t.Errorf("%s told %+v, want %v, %v and a message containing %q", who, er, code, unix.ErrnoName(errno), msg)
	}
}

func allRule(grants ...Grant) Policy { return Policy{Rules: []Rule{{Name: "all", Grants: grants}}} }

// servedOneSlot serves dir read-only as the grant name to every client,
// under cfg, with room for one client at a time; it returns the socket.
func servedOneSlot(t *testing.T, cfg Config, name, dir string) (*Server, string) {
	t.Helper()
	cfg.Limits.MaxClients = 1
	cfg.Policy = allRule(Grant{Name: name, Path: dir, Rights: rights.Uniform(rights.ReadOnly)})
	srv := newServer(t, cfg)
	return srv, serving(t, srv)
}

// TestSilentConnectionsHoldNoSlot: connections that say nothing do not
// take client slots, so they cannot lock a client out (with the slot
// taken at accept, 16 silent connections locked everyone out for the
// handshake timeout).
func TestSilentConnectionsHoldNoSlot(t *testing.T) {
	dir := testTree(t)
	srv := newServer(t, Config{Limits: Limits{MaxClients: 4}, Policy: allRule(Grant{Name: "d", Path: dir, Rights: rights.Uniform(rights.ReadOnly)})})
	path := serving(t, srv)
	for range 16 {
		rawDial(t, path)
	}
	// The broker's end of each connection is in this process: it holds
	// them all, each with the pidfd it identified its client by, before
	// the clients below dial. Counting only those descriptors (not every
	// open one, which other goroutines open and close) cannot race.
	pidfdErr := pidfdSupported()
	testwait.Until(t, "the broker accepted and identified the 16 silent connections", asyncTimeout, func() bool {
		return acceptedOn(t, path) == 16 && (pidfdErr != nil || pidfds(t) >= 16)
	})
	for i := range 4 {
		r, err := capfd.Dial(path)
		if err != nil {
			t.Fatalf("client %d beside 16 silent connections: %v", i, err)
		}
		defer r.Close()
	}
	_, err := capfd.Dial(path)
	var be *capfd.BrokerError
	if !errors.As(err, &be) || be.Code != wire.CodeLimit || !strings.Contains(be.Message, "at most 4 clients") {
		t.Errorf("a fifth client: %v, want the client limit", err)
	}
}

// acceptedOn counts the connections accepted on the socket at path whose
// accepted end is open in this process: sockets named path that do not
// listen.
func acceptedOn(t testing.TB, path string) int {
	t.Helper()
	n := 0
	for _, fd := range openFDs(t) {
		// An fd closed since the listing fails here and is not counted;
		// one reused meanwhile is counted for what it is now.
		sa, err := unix.Getsockname(fd)
		if ua, ok := sa.(*unix.SockaddrUnix); err != nil || !ok || ua.Name != path {
			continue
		}
		if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && listening == 0 {
			n++
		}
	}
	return n
}

// pidfds counts the pidfds open in this process.
func pidfds(t testing.TB) int {
	t.Helper()
	n := 0
	for _, fd := range openFDs(t) {
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && target == "anon_inode:[pidfd]" {
			n++
		}
	}
	return n
}

// pidfdSupported opens and closes a pidfd for this process, and says why
// it cannot if it cannot (the broker then identifies clients without one).
func pidfdSupported() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// openFDs lists the descriptors open in this process.
func openFDs(t testing.TB) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := make([]int, 0, len(ents))
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// TestRefusals: every connection the broker will not serve is told why
// in an error reply before it is closed, without having to say anything
// first, and the capfd client reports the reason.
func TestRefusals(t *testing.T) {
	dir := testTree(t)
	file := filepath.Join(dir, "hello.txt")
	other := uint32(4242)
	tests := []struct {
		name   string
		policy Policy
		code   wire.Code
		want   string
		is     error
	}{
		{"no rule matches", Policy{Rules: []Rule{{Name: "other", Match: Match{UID: &other}}}}, wire.CodeRefused, "no policy rule matches", fs.ErrPermission},
		{"optional grant missing", allRule(Grant{Name: "later", Path: filepath.Join(dir, "later"), Optional: true}), wire.CodeRefused, `grant "later" (` + filepath.Join(dir, "later") + `): missing`, fs.ErrNotExist},
		{"optional grant not a directory", allRule(Grant{Name: "f", Path: file, Optional: true}), wire.CodeRefused, "not a directory (a regular file)", unix.ENOTDIR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, Config{Policy: tc.policy})
			path := serving(t, srv)
			// A raw connection that sends nothing still hears why.
			if er := goodbyeOrHelloRefusal(t, rawDial(t, path), tc.code == wire.CodeRefused && !strings.Contains(tc.name, "no rule")); er.Code != tc.code || !strings.Contains(er.Message, tc.want) {
				t.Errorf("raw connection: %+v, want %v mentioning %q", er, tc.code, tc.want)
			}
			_, err := capfd.Dial(path)
			var be *capfd.BrokerError
			if !errors.As(err, &be) || be.Code != tc.code || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
				t.Errorf("capfd.Dial: %v, want %v mentioning %q and matching %v", err, tc.code, tc.want, tc.is)
			}
		})
	}
}

// goodbyeOrHelloRefusal reads the refusal: for a rule that matched, the
// broker waits for hello and refuses it (sent here, if hello is set);
// otherwise it says why at once.
func goodbyeOrHelloRefusal(t *testing.T, uc *net.UnixConn, hello bool) *wire.ErrorReply {
	t.Helper()
	if !hello {
		return goodbyeOf(t, uc)
	}
	c := wire.NewConn(uc)
	msg, _ := wire.AppendRequest(nil, &wire.Request{ID: 7, Op: wire.OpHello, VersionMin: wire.MinVersion, VersionMax: wire.MaxVersion})
	c.Send(msg, -1)
	rep, _, err := c.RecvReply(make([]byte, wire.MaxMessage))
	if err != nil || rep.ID != 7 || rep.Err == nil {
		t.Fatalf("hello: %+v, %v; want an error reply to it", rep, err)
	}
	return rep.Err
}

// TestOptionalGrantAppears: a client of a rule whose optional grant does
// not exist yet is refused; once the directory appears, it is served.
func TestOptionalGrantAppears(t *testing.T) {
	later := filepath.Join(t.TempDir(), "later")
	srv := newServer(t, Config{Policy: allRule(Grant{Name: "later", Path: later, Rights: rights.Uniform(rights.ReadOnly), Optional: true})})
	path := serving(t, srv)
	if _, err := capfd.Dial(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("before the directory exists: %v, want a refusal matching fs.ErrNotExist", err)
	}
	if err := os.Mkdir(later, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := capfd.Dial(path)
	if err != nil {
		t.Fatalf("once the directory exists: %v", err)
	}
	r.Close()
}

// TestCheckGrants: New refuses a policy whose grants cannot be opened,
// naming the rule, the grant and the reason; optional grants are not
// checked.
func TestCheckGrants(t *testing.T) {
	dir := testTree(t)
	os.Symlink("nowhere", filepath.Join(dir, "dangling"))
	os.Symlink("loop", filepath.Join(dir, "loop"))
	tests := []struct {
		name, path string
		optional   bool
		want       string // "" for no error
		is         error
	}{
		{"directory", dir, false, "", nil},
		{"symlink to a directory", filepath.Join(dir, "sub"), false, "", nil},
		{"missing", filepath.Join(dir, "nope"), false, "missing", fs.ErrNotExist},
		{"missing parent", filepath.Join(dir, "nope", "deeper"), false, "missing", fs.ErrNotExist},
		{"not a directory", filepath.Join(dir, "hello.txt"), false, "not a directory (a regular file)", unix.ENOTDIR},
		{"under a file", filepath.Join(dir, "hello.txt", "x"), false, "not a directory", unix.ENOTDIR},
		{"dangling symlink", filepath.Join(dir, "dangling"), false, `dangling symlink (to "nowhere")`, fs.ErrNotExist},
		{"symlink loop", filepath.Join(dir, "loop"), false, "symlink loop", unix.ELOOP},
		{"optional and missing", filepath.Join(dir, "nope"), true, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Policy: Policy{Rules: []Rule{{Name: "web", Grants: []Grant{{Name: "data", Path: tc.path, Rights: rights.Uniform(rights.ReadOnly), Optional: tc.optional}}}}}})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ge *GrantError
			if err == nil || !errors.As(err, &ge) || !errors.Is(err, tc.is) ||
				!strings.Contains(err.Error(), `client "web": grant "data" (`+tc.path+`): `+tc.want) {
				t.Fatalf("New: %v, want a GrantError naming the rule, grant, path and %q, matching %v", err, tc.want, tc.is)
			}
		})
	}
}
