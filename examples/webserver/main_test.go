package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/examples/internal/exampletest"
	"github.com/capfd/capfd/internal/testwait"
)

func TestMain(m *testing.M) { exampletest.Main(m, main) }

// tree is a served directory with a secret next to it and the usual ways
// of planting a link out of it.
type tree struct {
	www    string // the served directory
	secret string // content of a file outside www
}

const passwdMarker = "root:x:0:"

func newTree(t *testing.T) tree {
	t.Helper()
	base := t.TempDir()
	secret := "TOP-SECRET-" + filepath.Base(base)
	www := filepath.Join(base, "www")
	mustWrite(t, filepath.Join(base, "secret"), secret)
	mustWrite(t, filepath.Join(www, "index.html"), "<h1>hello</h1>\n")
	mustWrite(t, filepath.Join(www, "sub", "page.txt"), "a page\n")
	links := map[string]string{
		"inside-link": "sub/page.txt",                   // stays inside: must work
		"abs-link":    filepath.Join(base, "secret"),    // absolute, out
		"rel-link":    "../secret",                      // relative, out
		"up":          "..",                             // a directory link, out
		"procroot":    "/proc/self/root",                // a magic link, out
		"passwd":      "/etc/passwd",                    // a system file
		"fdlink":      "/proc/self/fd/0",                // another magic link
		"sub/deeper":  "../../secret",                   // out from a subdirectory
		"sub/chain":   "../rel-link",                    // link to a link out
		"sub/loop":    "loop",                           // ELOOP, not a crash
		"sub/abs-dir": filepath.Join(base, "www", ".."), // absolute, to the parent
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(www, name)); err != nil {
			t.Fatal(err)
		}
	}
	return tree{www: www, secret: secret}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// get sends target byte for byte, as an attacker would: an http.Client
// would parse and re-encode it first.
func get(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", target, err)
	}
	return resp.StatusCode, string(body)
}

// How the server is run: with its own capability, or under capfd run
// with the directory from the launcher's broker.
const (
	local    = "local"
	brokered = "capfd run -- webserver -broker"
)

// startServer starts the webserver on root and returns its address and
// the pid of the process holding its descriptors (0 when that is not the
// process started: under capfd run the server is the launcher's child).
func startServer(t *testing.T, root, mode string) (addr string, pid int) {
	t.Helper()
	var cmd *exec.Cmd
	if mode == brokered {
		if err := seccomp.Probe(); err != nil {
			t.Skipf("capfd run needs seccomp user notification: %v", err)
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		// The server listens on a port of its own: granted by --bind
		// (an ephemeral port, port 0 being what it asks for).
		cmd = exampletest.CommandIn(t, exampletest.BuildCapfd(t), append(exampletest.CapfdRun(),
			"--bind", "tcp:0",
			"--grant", filepath.Dir(exe)+"=rx", "--grant", root+"=ro",
			"--", exe, "-broker", "-root", root, "-addr", "127.0.0.1:0")...)
	} else {
		cmd = exampletest.Command(t, "-root", root, "-addr", "127.0.0.1:0")
	}
	line, cmd := exampletest.StartCmd(t, cmd)
	// "serving DIR on http://ADDR/"
	_, url, ok := strings.Cut(line, " on http://")
	if !ok {
		t.Fatalf("unexpected first line %q", line)
	}
	if mode == brokered {
		return strings.TrimSuffix(url, "/"), 0
	}
	return strings.TrimSuffix(url, "/"), cmd.Process.Pid
}

func TestServesFilesInside(t *testing.T) {
	for _, mode := range []string{local, brokered} {
		t.Run(mode, func(t *testing.T) { testServesFilesInside(t, mode) })
	}
}

func testServesFilesInside(t *testing.T, mode string) {
	tr := newTree(t)
	addr, _ := startServer(t, tr.www, mode)
	for _, tc := range []struct{ target, want string }{
		{"/", "<h1>hello</h1>\n"},
		{"/sub/page.txt", "a page\n"},
		{"/inside-link", "a page\n"}, // symlinks that stay inside are fine
	} {
		code, body := get(t, addr, tc.target)
		if code != http.StatusOK || body != tc.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tc.target, code, body, tc.want)
		}
	}
}

// TestTraversal sends every request to the capfd server and to a naive
// http.FileServer(http.Dir(root)) over the same tree. net/http cleans
// ".." out of URLs itself, so those requests fail on both; the planted
// symlinks are what the naive server follows out, and the capfd server
// must refuse every one of them, with its own capability or with the
// broker's.
func TestTraversal(t *testing.T) {
	for _, mode := range []string{local, brokered} {
		t.Run(mode, func(t *testing.T) { testTraversal(t, mode) })
	}
}

func testTraversal(t *testing.T, mode string) {
	tr := newTree(t)
	addr, pid := startServer(t, tr.www, mode)
	naive := httptest.NewServer(http.FileServer(http.Dir(tr.www)))
	defer naive.Close()
	naiveAddr := strings.TrimPrefix(naive.URL, "http://")

	secretPath := filepath.Join(filepath.Dir(tr.www), "secret")
	tests := []struct {
		target string
		// naiveLeaks: what the naive server serves ("" if nothing).
		naiveLeaks string
	}{
		{"/../secret", ""},
		{"/%2e%2e/secret", ""},
		{"/..%2fsecret", ""},
		{"/%2e%2e%2fsecret", ""},
		{"/sub/../../secret", ""},
		{"//etc/passwd", ""},
		{"/%2fetc/passwd", ""},
		{"/proc/self/root/etc/passwd", ""},
		{"/proc/self/cwd/secret", ""},
		{"/abs-link", tr.secret},
		{"/rel-link", tr.secret},
		{"/up/secret", tr.secret},
		{"/sub/deeper", tr.secret},
		{"/sub/chain", tr.secret},
		{"/sub/abs-dir/secret", tr.secret},
		{"/procroot" + secretPath, tr.secret},
		{"/procroot/etc/passwd", passwdMarker},
		{"/passwd", passwdMarker},
		{"/up/", "secret"}, // a listing of the parent names the secret file
		{"/sub/loop", ""},
		{"/fdlink", ""}, // the naive server's stdin: not a readable file
	}

	before := 0
	if pid != 0 {
		before = exampletest.OpenFds(t, pid)
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			code, body := get(t, naiveAddr, tc.target)
			leaked := tc.naiveLeaks != "" && code == http.StatusOK && strings.Contains(body, tc.naiveLeaks)
			if leaked != (tc.naiveLeaks != "") {
				t.Errorf("naive server: GET %s = %d %q; expected it to leak %q: %v", tc.target, code, body, tc.naiveLeaks, tc.naiveLeaks != "")
			}

			code, body = get(t, addr, tc.target)
			if code == http.StatusOK {
				t.Errorf("capfd server: GET %s = 200 %q, want a refusal", tc.target, body)
			}
			for _, secret := range []string{tr.secret, passwdMarker, "secret"} {
				if strings.Contains(body, secret) && !strings.Contains(tc.target, secret) {
					t.Errorf("capfd server: GET %s = %d, body leaks %q: %q", tc.target, code, secret, body)
				}
			}
		})
	}

	// Every refused request closed what it opened: the server holds the
	// same descriptors as before (connections close asynchronously, so
	// give them a moment).
	if pid == 0 {
		return
	}
	testwait.For(3*time.Second, func() bool { return exampletest.OpenFds(t, pid) == before })
	if after := exampletest.OpenFds(t, pid); after != before {
		t.Errorf("server holds %d fds after the requests, %d before", after, before)
	}
}

func TestRefusesMissingRoot(t *testing.T) {
	_, stderr, err := exampletest.Run(t, "-root", filepath.Join(t.TempDir(), "nope"), "-addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(stderr, "no such file") {
		t.Fatalf("webserver on a missing root: err %v, stderr %q; want a failure naming the cause", err, stderr)
	}
}
