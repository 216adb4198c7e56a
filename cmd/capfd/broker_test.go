package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/lsm"
)

// TestBrokerKernelMode: the kernel mode is checked before anything is
// served, and require refuses to start on a kernel without BPF LSM, naming
// why.
func TestBrokerKernelMode(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "broker.yaml")
	write := func(extra string) {
		t.Helper()
		text := "socket: " + filepath.Join(dir, "broker.sock") + "\n" + extra
		if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	write("kernel: sometimes\n")
	if code, _, stderr := runForTest("broker", "--config", config); code != 2 || !strings.Contains(stderr, `kernel "sometimes"`) {
		t.Errorf("bad kernel mode in the config: exit %d, stderr %q", code, stderr)
	}
	write("")
	if code, _, stderr := runForTest("broker", "--config", config, "--kernel", "on"); code != 2 || !strings.Contains(stderr, `kernel mode "on"`) {
		t.Errorf("bad --kernel: exit %d, stderr %q", code, stderr)
	}

	probeErr := lsm.Probe()
	if probeErr == nil {
		t.Skip("BPF LSM loads on this kernel, so require would start serving; broker/enforce's guest tests cover that case")
	}
	write("kernel: require\n")
	code, _, stderr := runForTest("broker", "--config", config)
	if code != 1 || !strings.Contains(stderr, "require") || !strings.Contains(stderr, probeErr.Error()) {
		t.Errorf("kernel: require without BPF LSM: exit %d, stderr %q; want exit 1 naming %q", code, stderr, probeErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "broker.sock")); err == nil {
		t.Error("the broker created its socket although it refused to start")
	}
}

// TestBrokerCheckConfig: --check-config says whether the broker would
// start with a configuration, without serving: exit 0 and a summary for
// a valid one (the example's among them), 1 and the reason for one that
// would not start, 2 for misuse.
func TestBrokerCheckConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "broker.sock")
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("socket: "+sock+"\n"+text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := write("good.yaml", "clients:\n  - name: web\n    match: {uid: www-data, gid: adm}\n    grants: [{name: d, path: data, rights: ro}, {name: e, path: /nonexistent-capfd, rights: ro, optional: true}]\n")
	code, stdout, stderr := runForTest("broker", "--check-config", good)
	if code != 0 || stdout != good+": valid: 1 client rules, 2 grants\n" || stderr != "" {
		t.Errorf("valid config: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, stdout, stderr := runForTest("broker", "--check-config", "../../examples/broker.yaml"); code != 0 || !strings.Contains(stdout, "valid") {
		t.Errorf("examples/broker.yaml: exit %d, %q %q", code, stdout, stderr)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"unknown user", "clients: [{name: a, match: {uid: no-such-user-capfd}}]\n", `user "no-such-user-capfd": unknown user`},
		{"missing grant", "clients: [{name: a, grants: [{name: g, path: missing, rights: ro}]}]\n", `grant "g" (` + filepath.Join(dir, "missing") + `): missing`},
		{"bad rights", "clients: [{name: a, grants: [{name: g, path: data, rights: fly}]}]\n", "unknown right"},
		{"bad kernel", "kernel: sometimes\n", `kernel "sometimes"`},
		{"typo", "grant: []\n", "grant"},
		{"non-loopback metrics", "metrics: {address: \"0.0.0.0:9464\"}\n", "not loopback"},
	} {
		p := write("bad.yaml", tc.text)
		code, stdout, stderr := runForTest("broker", "--check-config", p)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "capfd broker: "+p+": invalid: ") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 saying %q", tc.name, code, stdout, stderr, tc.want)
		}
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("--check-config created the socket")
	}
	if code, _, _ := runForTest("broker", "--check-config", good, "--config", good); code != 2 {
		t.Errorf("--check-config with --config: exit %d, want 2", code)
	}
}

// TestRestartOnly: a reload names the settings it cannot apply (all but
// the clients section) when they changed, and only those.
func TestRestartOnly(t *testing.T) {
	parse := func(text string) *broker.FileConfig {
		fc, err := broker.ParseFile([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return fc
	}
	old := parse("socket: /a\nlimits: {max_handles: 5}\nclients: [{name: a}]\n")
	cur := parse("socket: /b\nlimits: {max_handles: 6}\nclients: [{name: b}]\n")
	if got := restartOnly(old, cur); strings.Join(got, ",") != "socket,limits" {
		t.Errorf("restartOnly = %v, want [socket limits]", got)
	}
	if got := restartOnly(old, old); len(got) != 0 {
		t.Errorf("restartOnly of the same config = %v", got)
	}
}
