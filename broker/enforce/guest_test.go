package enforce

// The guest test: the broker confines a real client through BPF LSM. It
// needs a kernel that runs BPF LSM, which in this project means a vmtest VM
// (TestInVM); on the development host it skips, naming Probe's reason.

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/internal/testwait"
	"github.com/capfd/capfd/internal/vmtest"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// requireBPFLSM skips on a kernel without BPF LSM, and fails inside the VM,
// where it must work.
func requireBPFLSM(t *testing.T) {
	t.Helper()
	if err := lsm.Probe(); err != nil {
		if vmtest.InVM() {
			t.Fatalf("BPF LSM must work in the vmtest guest: %v", err)
		}
		t.Skipf("BPF LSM programs cannot load on this kernel: %v", err)
	}
}

// TestGuestClientCannotBypassBroker: a client that connected is marked, and
// the kernel refuses what it tries around the broker, while the same
// system calls succeed for a process that never connected. When it
// disconnects its sandbox is revoked.
func TestGuestClientCannotBypassBroker(t *testing.T) {
	requireBPFLSM(t)
	dir := t.TempDir()
	for path, content := range map[string]string{"granted/file": grantedContent, "secret/file": "secret\n"} {
		path = filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var audit brokertest.AuditLog
	k, err := Setup(Require, nil, audit.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	srv, err := broker.New(broker.Config{
		Policy: broker.Policy{Rules: []broker.Rule{{Name: "client", Grants: []broker.Grant{
			{Name: "granted", Path: filepath.Join(dir, "granted"), Rights: rights.Uniform(rights.ReadOnly)},
		}}}},
		Audit:     audit.Logger(),
		OnConnect: k.OnConnect,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Register(srv.Registry()); err != nil {
		t.Fatal(err)
	}
	sock, stop := brokertest.Listen(t, filepath.Join(dir, "broker.sock"), srv.Serve)
	defer stop() // before k.Close
	env := []string{envDir + "=" + dir, envSock + "=" + sock}
	const eperm = int(unix.EPERM)

	// Without the broker: every attempt works, so the refusals below are
	// the kernel layer's doing.
	unmarked := startChild(t, "unmarked", env...)
	for _, name := range []string{"open-rdonly", "open-rdwr", "open-sibling", "reopen-procfd"} {
		unmarked.expect(t, name, 0)
	}
	if err := unmarked.cmd.Wait(); err != nil {
		t.Fatalf("unmarked child: %v (%s)", err, unmarked.stderr.String())
	}

	marked := startChild(t, "marked", env...)
	markedPID := marked.cmd.Process.Pid
	for _, s := range []struct {
		name  string
		errno int
	}{
		{"dial", 0},
		{"broker-read", 0},
		{"reopen-passed-fd", eperm},
		{"open-rdonly", 0}, // within the grant: the backstop refuses nothing the broker allows
		{"open-rdwr", eperm},
		{"open-sibling", eperm},
		{"reopen-procfd", eperm},
		{"disconnect", 0},
	} {
		marked.expect(t, s.name, s.errno)
	}

	// The disconnect revokes the sandbox: the read the grant allowed a
	// moment ago is refused now.
	testwait.Until(t, "the sandbox's revocation", asyncTimeout, func() bool {
		for _, rec := range audit.RecordsOf(t, "kernel sandbox revoked") {
			if client, _ := rec["client"].(map[string]any); client != nil && client["pid"] == float64(markedPID) {
				return k.Sandboxes() == 0
			}
		}
		return false
	})
	if _, err := marked.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	marked.expect(t, "after-disconnect", eperm)
	if err := marked.cmd.Wait(); err != nil {
		t.Fatalf("marked child: %v (%s)", err, marked.stderr.String())
	}

	// Every refusal reached the audit log, attributed to the marked
	// client; none is the unmarked one's.
	const refusals = 5 // reopen-passed-fd, open-rdwr, open-sibling, reopen-procfd, after-disconnect
	denialsOf := func(pid int) []map[string]any {
		var out []map[string]any
		for _, rec := range audit.RecordsOf(t, "kernel denied") {
			if rec["pid"] == float64(pid) && rec["hook"] == "file_open" {
				out = append(out, rec)
			}
		}
		return out
	}
	testwait.Until(t, "the denials in the audit log", asyncTimeout, func() bool { return len(denialsOf(markedPID)) >= refusals })
	if got := denialsOf(unmarked.cmd.Process.Pid); len(got) != 0 {
		t.Errorf("denials for the unmarked process: %v", got)
	}
	secret, file := inodeOf(t, filepath.Join(dir, "secret/file")), inodeOf(t, filepath.Join(dir, "granted/file"))
	var sawSibling, sawUpgrade bool
	for _, rec := range denialsOf(markedPID) {
		switch rec["ino"] {
		case float64(secret.ino):
			sawSibling = rec["granted"] == rights.Rights(0).String()
		case float64(file.ino):
			if needed, err := rights.Parse(rec["needed"].(string)); err == nil && needed.Has(rights.Write) {
				_, named := rec["client"].(map[string]any)
				sawUpgrade = sawUpgrade || named
			}
		}
	}
	if !sawSibling {
		t.Error("no audit record of the ungranted sibling refused with nothing granted")
	}
	if !sawUpgrade {
		t.Error("no audit record of a write to the read-only file refused, naming the client")
	}

	got := gather(t, srv.Registry(), "capfd_kernel_denials_total")
	if got["file_open"] < refusals {
		t.Errorf("capfd_kernel_denials_total{hook=file_open} = %v, want at least %d", got["file_open"], refusals)
	}
	if active := gather(t, srv.Registry(), "capfd_kernel_backend_active"); active[BackendBPFLSM] != 1 {
		t.Errorf("capfd_kernel_backend_active = %v, want bpf-lsm 1", active)
	}
	if n := gather(t, srv.Registry(), "capfd_kernel_sandboxes"); n[""] != 0 {
		t.Errorf("capfd_kernel_sandboxes = %v after the disconnect", n)
	}
}
