package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/brokertest"
)

// startBroker serves the policy of a broker.yaml's clients section from
// an in-process broker and returns its socket.
func startBroker(t *testing.T, clients string) string {
	t.Helper()
	fc, err := broker.ParseFile([]byte("socket: /unused\nclients:\n" + clients))
	if err != nil {
		t.Fatal(err)
	}
	policy, err := fc.Policy()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broker.New(broker.Config{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := brokertest.Listen(t, "", srv.Serve)
	return sock
}

// clientTree is a directory to grant: data/file, data/sub/, a symlink out
// of it, and outside/secret next to it.
func clientTree(t *testing.T) (data string) {
	t.Helper()
	base := t.TempDir()
	data = filepath.Join(base, "data")
	for _, d := range []string{data, filepath.Join(data, "sub"), filepath.Join(base, "outside")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{"data/file": "hello\n", "outside/secret": "secret\n"} {
		if err := os.WriteFile(filepath.Join(base, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../outside/secret", filepath.Join(data, "out")); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestClientVerbsExitCodes: the client verbs' answers, and their exit
// codes for each kind of failure: 4 for an escape, 3 for a refusal by
// policy (a missing right, no rule for this client), 1 for an I/O error.
// Every error has one "capfd VERB:" prefix and no other.
func TestClientVerbsExitCodes(t *testing.T) {
	data := clientTree(t)
	sock := startBroker(t, fmt.Sprintf(`
  - name: me
    match: {uid: %d}
    grants:
      - {name: data, path: %s, rights: ro}
      - {name: blind, path: %s, rights: "lookup,readdir,stat:lookup,stat"}
`, os.Getuid(), data, data))
	nobody := startBroker(t, "  - {name: other, match: {uid: 4242}, grants: []}\n")
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // stdout exactly
		stderr string // in stderr
	}{
		{[]string{"ls", "--socket", sock}, 0, "data/\nblind/\n", ""},
		{[]string{"ls", "--socket", sock, "data"}, 0, "file\nout\nsub/\n", ""},
		{[]string{"cat", "-socket", sock, "data/file"}, 0, "hello\n", ""},
		{[]string{"stat", "--socket", sock, "data/file"}, 0, "name: file\nsize: 6\n", ""},
		{[]string{"cat", "--socket", sock, "data/missing"}, exitFailure, "", "no such file or directory"},
		{[]string{"cat", "--socket", sock, "nosuchroot/file"}, exitFailure, "", `grants no directory "nosuchroot"`},
		{[]string{"cat", "--socket", sock, "blind/file"}, exitNotCapable, "", "not capable: missing read"},
		{[]string{"cat", "--socket", sock, "data/../outside/secret"}, exitEscape, "", "path escapes from the directory"},
		{[]string{"cat", "--socket", sock, "data/out"}, exitEscape, "", "path escapes from the directory"},
		{[]string{"ls", "--socket", nobody}, exitNotCapable, "", "capfd ls: handshake: broker refused: no policy rule matches this client"},
		{[]string{"ls", "--socket", filepath.Join(t.TempDir(), "none.sock")}, exitFailure, "", "capfd ls: dial broker: "},
		{[]string{"cat", "--socket", sock}, exitUsage, "", "capfd cat: want one argument, ROOT/PATH\nsee 'capfd cat --help'\n"},
	} {
		code, stdout, stderr := runForTest(tc.args...)
		okOut := stdout == tc.stdout || tc.args[0] == "stat" && strings.HasPrefix(stdout, tc.stdout)
		if code != tc.code || !okOut || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("capfd %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
		if code != 0 && code != exitUsage && (strings.Count(stderr, "capfd") != 1 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "capfd "+tc.args[0]+": ")) {
			t.Errorf("capfd %q: want one line with one prefix, got %q", tc.args, stderr)
		}
	}
	// Nothing leaked out through the refusals.
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(data), "outside", "secret")); err != nil || string(b) != "secret\n" {
		t.Errorf("outside/secret: %q, %v", b, err)
	}
}

// TestClientVerbsFindTheBroker: --socket, else $CAPFD_BROKER_SOCKET; with
// neither, nor $CAPFD_BROKER_FD, the error names all three ways.
func TestClientVerbsFindTheBroker(t *testing.T) {
	sock := startBroker(t, fmt.Sprintf("  - {name: me, match: {uid: %d}, grants: [{name: data, path: %s, rights: ro}]}\n", os.Getuid(), clientTree(t)))
	t.Setenv("CAPFD_BROKER_FD", "")
	os.Unsetenv("CAPFD_BROKER_FD")
	t.Setenv(envBrokerSocket, "")
	code, stdout, stderr := runForTest("ls")
	if code != exitUsage || stdout != "" {
		t.Errorf("capfd ls with no broker: exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"--socket", "$CAPFD_BROKER_SOCKET", "$CAPFD_BROKER_FD", "see 'capfd ls --help'"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("capfd ls with no broker: %q does not mention %s", stderr, want)
		}
	}
	t.Setenv(envBrokerSocket, sock)
	if code, stdout, stderr := runForTest("ls"); code != 0 || stdout != "data/\n" {
		t.Errorf("capfd ls with $%s: exit %d, %q, %q", envBrokerSocket, code, stdout, stderr)
	}
}

// TestClientVerbsTimeOut: a broker that accepts and never answers, or
// answers the handshake and then nothing, makes the verb fail with a
// clear error within its --timeout instead of hanging.
func TestClientVerbsTimeOut(t *testing.T) {
	silent := brokertest.Silent(t, nil)
	mute := brokertest.Silent(t, brokertest.HelloOnly)
	for _, tc := range []struct {
		name string
		args []string
		sock string
	}{
		{"no hello", []string{"ls", "--timeout", "200ms", "--socket", silent}, silent},
		{"no reply", []string{"cat", "--timeout=200ms", "--socket", mute, "data/file"}, mute},
	} {
		start := time.Now()
		code, stdout, stderr := runForTest(tc.args...)
		elapsed := time.Since(start)
		want := fmt.Sprintf("capfd %s: the broker at %s did not answer within 200ms (--timeout)\n", tc.args[0], tc.sock)
		if code != exitFailure || stdout != "" || stderr != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.name, code, stdout, stderr, want)
		}
		if elapsed > 5*time.Second {
			t.Errorf("%s: gave up after %v", tc.name, elapsed)
		}
	}
	if code, _, stderr := runForTest("ls", "--timeout", "-1s", "--socket", silent); code != exitUsage || !strings.Contains(stderr, "negative") {
		t.Errorf("a negative --timeout: exit %d, %q", code, stderr)
	}
	if f := verbFlags("ls").Lookup("timeout"); f == nil || f.DefValue != defaultTimeout.String() || defaultTimeout <= 0 {
		t.Errorf("the default --timeout is %v", f)
	}
}
