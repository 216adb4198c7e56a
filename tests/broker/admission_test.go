package broker_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
)

// TestBrokerRefusesBadGrants: `capfd broker` with a grant whose directory
// cannot be opened exits 2 at once, naming the client, the grant and the
// reason, and never listens (it used to start, and then every client got
// a bare connection reset); an optional grant may be missing.
func TestBrokerRefusesBadGrants(t *testing.T) {
	dir := tree(t)
	os.Symlink("nowhere", filepath.Join(dir, "dangling"))
	tests := []struct {
		name, path, extra, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "", "missing"},
		{"not a directory", filepath.Join(dir, "hello.txt"), "", "not a directory (a regular file)"},
		{"dangling symlink", filepath.Join(dir, "dangling"), "", `dangling symlink (to \"nowhere\")`},
		{"optional and missing", filepath.Join(dir, "nope"), ", optional: true", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgDir := t.TempDir()
			sock := filepath.Join(cfgDir, "broker.sock")
			cfg := "socket: " + sock + "\nkernel: off\nclients:\n  - name: web\n    grants:\n      - {name: data, path: \"" + tc.path + "\", rights: ro" + tc.extra + "}\n"
			cfgPath := filepath.Join(cfgDir, "broker.yaml")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				b := startBrokerWith(t, []grantSpec{{"data", tc.path, "ro"}}, brokerOptions{optional: true})
				_, err := capfd.Dial(b.socket)
				var be *capfd.BrokerError
				if !errors.As(err, &be) || be.Code != wire.CodeRefused || !strings.Contains(err.Error(), "missing") {
					t.Errorf("a client of the missing optional grant: %v, want a refusal naming it missing", err)
				}
				return
			}
			out, err := exec.Command(capfdBin, "broker", "--config", cfgPath).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output %s", err, out)
			}
			want := `client "web": grant "data" (` + tc.path + `): ` + strings.ReplaceAll(tc.want, `\"`, `"`)
			if !strings.Contains(string(out), want) {
				t.Errorf("output %q, want it to say %q", out, want)
			}
			if _, err := os.Stat(sock); err == nil {
				t.Error("the broker listened although it refused its configuration")
			}
		})
	}
}

// TestOutOfDescriptors runs the broker with few descriptors (RLIMIT_NOFILE)
// and connects clients until it runs out: every client is either served
// or refused with an error that says the broker is out of descriptors,
// never a bare connection reset; once the clients leave, a new one is
// served again.
func TestOutOfDescriptors(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs util-linux prlimit")
	}
	dir := tree(t)
	b := startBrokerWith(t, []grantSpec{{"data", dir, "ro"}}, brokerOptions{wrapper: []string{prlimit, "--nofile=40:40", "--"}})
	var served []*capfd.Remote
	refused := 0
	for i := 0; i < 40 && refused < 5; i++ {
		r, err := capfd.Dial(b.socket)
		if err == nil {
			served = append(served, r)
			continue
		}
		var be *capfd.BrokerError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), "out of file descriptors") {
			t.Fatalf("client %d: %v, want served or refused as out of descriptors", i, err)
		}
		refused++
	}
	if len(served) == 0 || refused == 0 {
		t.Fatalf("%d clients served, %d refused: want both", len(served), refused)
	}
	for _, r := range served {
		r.Close()
	}
	testwait.Until(t, "a client served again", asyncTimeout, func() bool {
		r, err := capfd.Dial(b.socket)
		if err == nil {
			r.Close()
		}
		return err == nil
	})
}
