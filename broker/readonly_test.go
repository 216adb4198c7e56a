package broker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// writeAttempt is one way a client might try to change a file through a
// capability: each returns whether the file could be written or changed.
type writeAttempt struct {
	name string
	try  func(t *testing.T, rc *rawClient, root uint32) (changed bool)
}

func fdWritable(t *testing.T, fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	mode := fl & unix.O_ACCMODE
	return mode == unix.O_WRONLY || mode == unix.O_RDWR
}

func writeAttempts() []writeAttempt {
	ok := func(rep wire.Reply) bool { return rep.Err == nil }
	// openFlags opens f.txt with flags, asking for its descriptor, and
	// then writes through the handle: changed if either gives write access.
	openFlags := func(name string, flags int, r rights.Rights) writeAttempt {
		return writeAttempt{name, func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, fd := rc.call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: uint32(flags), Mode: 0o644, Pair: rights.Pair{Base: r}, Flags: wire.FlagWantFD})
			if fd >= 0 {
				defer unix.Close(fd)
				if fdWritable(t, fd) {
					return true
				}
			}
			if !ok(rep) {
				return false
			}
			wrep, _ := rc.call(&wire.Request{Op: wire.OpWrite, Handle: rep.NewHandle, Data: []byte("X")})
			return ok(wrep) || flags&unix.O_TRUNC != 0
		}}
	}
	// openRO opens f.txt in the widest mode the grant allows (read-write,
	// else read-only), claiming rights r on top of the mode's own.
	openRO := func(t *testing.T, rc *rawClient, root uint32, r rights.Rights) (uint32, bool) {
		rep, _ := rc.call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDWR, Pair: rights.Pair{Base: r | rights.Read | rights.Write}})
		if rep.Err == nil {
			return rep.NewHandle, true
		}
		rep, _ = rc.call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: r | rights.Read}})
		if rep.Err == nil {
			return rep.NewHandle, true
		}
		rep, _ = rc.call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}})
		return rep.NewHandle, rep.Err == nil
	}
	return []writeAttempt{
		openFlags("open O_WRONLY", unix.O_WRONLY, rights.Write),
		openFlags("open O_RDWR", unix.O_RDWR, rights.Read|rights.Write),
		openFlags("open O_WRONLY|O_APPEND", unix.O_WRONLY|unix.O_APPEND, rights.Append),
		openFlags("open O_RDONLY|O_TRUNC", unix.O_RDONLY|unix.O_TRUNC, rights.Read|rights.Truncate),
		{"open read-only claiming write rights, then reopen for writing", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Lookup | rights.Read | rights.Write}})
			if rep.Err != nil {
				return false
			}
			rep, fd := rc.call(&wire.Request{Op: wire.OpReopen, Handle: rep.NewHandle, SysFlags: unix.O_WRONLY, Pair: rights.Pair{Base: rights.Write}, Flags: wire.FlagWantFD})
			if fd >= 0 {
				defer unix.Close(fd)
			}
			return ok(rep) && fd >= 0 && fdWritable(t, fd)
		}},
		{"reopen O_RDWR", func(t *testing.T, rc *rawClient, root uint32) bool {
			h, opened := openRO(t, rc, root, rights.Lookup)
			if !opened {
				return false
			}
			rep, fd := rc.call(&wire.Request{Op: wire.OpReopen, Handle: h, SysFlags: unix.O_RDWR, Pair: rights.Pair{Base: rights.Read | rights.Write}, Flags: wire.FlagWantFD})
			if fd >= 0 {
				defer unix.Close(fd)
				return fdWritable(t, fd)
			}
			return ok(rep)
		}},
		{"dup with write rights, then write", func(t *testing.T, rc *rawClient, root uint32) bool {
			h, opened := openRO(t, rc, root, rights.Read)
			if !opened {
				return false
			}
			rep, _ := rc.call(&wire.Request{Op: wire.OpDup, Handle: h, Pair: rights.Pair{Base: rights.Read | rights.Write}})
			if rep.Err != nil {
				return false
			}
			rep, _ = rc.call(&wire.Request{Op: wire.OpWrite, Handle: rep.NewHandle, Data: []byte("X")})
			return ok(rep)
		}},
		{"fd of a read-only open, then write(2)", func(t *testing.T, rc *rawClient, root uint32) bool {
			h, opened := openRO(t, rc, root, rights.Read)
			if !opened {
				return false
			}
			_, fd := rc.call(&wire.Request{Op: wire.OpFd, Handle: h})
			if fd < 0 {
				return false
			}
			defer unix.Close(fd)
			_, err := unix.Write(fd, []byte("X"))
			return err == nil || fdWritable(t, fd)
		}},
		{"truncate by path", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpTruncate, Handle: root, Path: "f.txt", Offset: 1})
			return ok(rep)
		}},
		{"ftruncate", func(t *testing.T, rc *rawClient, root uint32) bool {
			h, opened := openRO(t, rc, root, rights.Read|rights.Truncate)
			if !opened {
				return false
			}
			rep, _ := rc.call(&wire.Request{Op: wire.OpFtruncate, Handle: h, Offset: 1})
			return ok(rep)
		}},
		{"chmod", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpChmod, Handle: root, Path: "f.txt", Mode: 0o666})
			return ok(rep)
		}},
		{"fchmod", func(t *testing.T, rc *rawClient, root uint32) bool {
			h, opened := openRO(t, rc, root, rights.Read|rights.Chmod)
			if !opened {
				return false
			}
			rep, _ := rc.call(&wire.Request{Op: wire.OpFchmod, Handle: h, Mode: 0o666})
			return ok(rep)
		}},
		{"chtimes", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpChtimes, Handle: root, Path: "f.txt", Atime: wire.Timespec{Sec: 5}, Mtime: wire.Timespec{Sec: 5}, Follow: true})
			return ok(rep)
		}},
		{"unlink", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpUnlink, Handle: root, Path: "f.txt"})
			return ok(rep)
		}},
		{"rename over", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpRename, Handle: root, Path: "other.txt", Handle2: root, Path2: "f.txt"})
			return ok(rep)
		}},
		{"setxattr", func(t *testing.T, rc *rawClient, root uint32) bool {
			h, opened := openRO(t, rc, root, rights.Read|rights.XattrSet)
			if !opened {
				return false
			}
			rep, _ := rc.call(&wire.Request{Op: wire.OpXattrSet, Handle: h, Name: "user.x", Data: []byte("v")})
			return ok(rep) || rep.Err.Code != wire.CodeNotCapable
		}},
		{"opendir claiming more, then create", func(t *testing.T, rc *rawClient, root uint32) bool {
			rep, _ := rc.call(&wire.Request{Op: wire.OpOpenDir, Handle: root, Path: ".", Pair: rights.Uniform(rights.ReadWrite)})
			if rep.Err != nil {
				return false
			}
			rep, _ = rc.call(&wire.Request{Op: wire.OpOpen, Handle: rep.NewHandle, Path: "f.txt", SysFlags: unix.O_WRONLY | unix.O_TRUNC, Pair: rights.Pair{Base: rights.Write | rights.Truncate}})
			return ok(rep)
		}},
	}
}

// TestReadOnlyCannotBecomeWrite tries every way to write through a
// capability. Through a read-write grant each attempt succeeds (so the
// attempts are real); through a read-only grant each fails, the file keeps
// its bytes, mode and times, and no writable descriptor ever reaches the
// client.
func TestReadOnlyCannotBecomeWrite(t *testing.T) {
	for _, at := range writeAttempts() {
		t.Run(at.name, func(t *testing.T) {
			for _, grant := range []rights.Pair{rights.Uniform(rights.ReadWrite | rights.Chown), rights.Uniform(rights.ReadOnly)} {
				dir := t.TempDir()
				file := filepath.Join(dir, "f.txt")
				os.WriteFile(file, []byte("original"), 0o644)
				os.WriteFile(filepath.Join(dir, "other.txt"), []byte("other"), 0o644)
				var before unix.Stat_t
				unix.Stat(file, &before)

				srv := newServer(t, Config{})
				rc := rawServed(t, srv, []Grant{{Name: "root", Path: dir, Rights: grant}})
				changed := at.try(t, rc, rc.roots["root"])

				var after unix.Stat_t
				statErr := unix.Stat(file, &after)
				content, _ := os.ReadFile(file)
				touched := statErr != nil || string(content) != "original" || after.Mode != before.Mode || after.Mtim != before.Mtim || after.Ino != before.Ino
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
