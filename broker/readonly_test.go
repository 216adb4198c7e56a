package broker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// TestReadOnlyCannotBecomeWrite tries every way to write through a
// capability. Through a read-write grant each attempt succeeds (so the
// attempts are real); through a read-only grant each fails, the file keeps
// its bytes, mode and times, and no writable descriptor ever reaches the
// client.
func TestReadOnlyCannotBecomeWrite(t *testing.T) {
	for _, at := range brokertest.WriteAttempts() {
		t.Run(at.Name, func(t *testing.T) {
			for _, grant := range []rights.Pair{rights.Uniform(rights.ReadWrite | rights.Chown), rights.Uniform(rights.ReadOnly)} {
				dir := t.TempDir()
				before := brokertest.PrepareWriteTree(t, dir)
				srv := newServer(t, Config{})
				rc := rawServed(t, srv, []Grant{{Name: "root", Path: dir, Rights: grant}})
				changed := at.Try(t, rc, rc.roots["root"])
				touched := brokertest.Touched(dir, before)
				if grant.Base.Has(rights.Write) {
					if !changed && !touched {
						t.Errorf("read-write grant: the attempt did not succeed, so it proves nothing")
					}
					continue
				}
				if changed || touched {
					t.Errorf("read-only grant: the attempt succeeded (reply ok: %v, file changed: %v)", changed, touched)
				}
			}
		})
	}
}

// TestNoPrivilegeMinting checks that even a handle with every right cannot
// make the broker (often root) create setuid/setgid files or set
// security.* attributes, and that the same requests without the privilege
// bits succeed (so the refusal is about the bits, not the operation).
func TestNoPrivilegeMinting(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755)
	srv := newServer(t, Config{})
	rc := rawServed(t, srv, []Grant{{Name: "r", Path: dir, Rights: rights.Uniform(rights.All)}})
	root := rc.roots["r"]
	prog := rc.open(root, "prog", unix.O_RDONLY, rights.All&^(rights.Write|rights.Append))
	tests := []struct {
		name          string
		bad, harmless *wire.Request
	}{
		{"chmod setuid", &wire.Request{Op: wire.OpChmod, Handle: root, Path: "prog", Mode: 0o4755}, &wire.Request{Op: wire.OpChmod, Handle: root, Path: "prog", Mode: 0o755}},
		{"fchmod setgid", &wire.Request{Op: wire.OpFchmod, Handle: prog, Mode: 0o2755}, &wire.Request{Op: wire.OpFchmod, Handle: prog, Mode: 0o755}},
		{"create setuid", &wire.Request{Op: wire.OpOpen, Handle: root, Path: "new", SysFlags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o4755, Pair: rights.Pair{Base: rights.Write}},
			&wire.Request{Op: wire.OpOpen, Handle: root, Path: "new", SysFlags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o755, Pair: rights.Pair{Base: rights.Write}}},
		{"mkdir setgid", &wire.Request{Op: wire.OpMkdir, Handle: root, Path: "d", Mode: 0o2755}, &wire.Request{Op: wire.OpMkdir, Handle: root, Path: "d", Mode: 0o755}},
		{"set security.capability", &wire.Request{Op: wire.OpXattrSet, Handle: prog, Name: "security.capability", Data: []byte{1}}, nil},
		{"remove trusted.x", &wire.Request{Op: wire.OpXattrRemove, Handle: prog, Name: "trusted.x"}, nil},
	}
	for _, tc := range tests {
		rep, _ := rc.call(tc.bad)
		if rep.Err == nil || rep.Err.Errno != uint32(unix.EPERM) {
			t.Errorf("%s: %+v, want EPERM", tc.name, rep.Err)
		}
		if tc.harmless != nil {
			if rep, _ := rc.call(tc.harmless); rep.Err != nil {
				t.Errorf("%s without the privilege bits: %+v", tc.name, *rep.Err)
			}
		}
	}
	for _, name := range []string{"prog", "new", "d"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, name), &st); err == nil && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			t.Errorf("%s has mode %#o", name, st.Mode)
		}
	}
}
