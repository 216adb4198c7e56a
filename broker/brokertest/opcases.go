package brokertest

import (
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Caller makes one request and returns its reply and descriptor (or -1).
type Caller interface {
	Call(req *wire.Request) (wire.Reply, int)
}

// OpCase is one operation served on a handle that holds exactly what it
// needs (allowed) or everything but that (denied).
type OpCase struct {
	Op   wire.Op
	Need rights.Rights // rights of the handle under test the op needs
	// Inherit is added to a directory handle's inherit rights in both
	// variants: what the op's new handle is granted from.
	Inherit rights.Rights
	// File, when set, makes the handle under test a file opened beneath the
	// case's directory with FileFlags (allowed) or DeniedFlags (denied,
	// default O_PATH); otherwise it is a directory handle on the case's
	// directory with the rights as both base and inherit.
	File        string
	FileFlags   int
	DeniedFlags int
	// Request builds the request on the handle under test.
	Request func(h uint32) *wire.Request
	FD      bool // a successful reply carries a descriptor
}

// OpCases returns a case for every filesystem operation of the protocol.
func OpCases() []OpCase {
	on := func(op wire.Op) func(uint32) *wire.Request {
		return func(h uint32) *wire.Request { return &wire.Request{Op: op, Handle: h} }
	}
	at := func(op wire.Op, p string) func(uint32) *wire.Request {
		return func(h uint32) *wire.Request { return &wire.Request{Op: op, Handle: h, Path: p, Mode: 0o600} }
	}
	L := rights.Lookup
	return []OpCase{
		{Op: wire.OpOpen, Need: L, Inherit: rights.Read, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpOpen, Handle: h, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}}
		}},
		{Op: wire.OpOpenDir, Need: L, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpOpenDir, Handle: h, Path: "sub", Pair: rights.Uniform(rights.Lookup)}
		}},
		{Op: wire.OpStat, Need: L | rights.Stat, Request: at(wire.OpStat, "f.txt")},
		{Op: wire.OpTruncate, Need: L | rights.Truncate, Request: at(wire.OpTruncate, "f.txt")},
		{Op: wire.OpMkdir, Need: L | rights.Mkdir, Request: at(wire.OpMkdir, "newdir")},
		{Op: wire.OpUnlink, Need: L | rights.Unlink, Request: at(wire.OpUnlink, "f.txt")},
		{Op: wire.OpRmdir, Need: L | rights.Unlink, Request: at(wire.OpRmdir, "empty")},
		{Op: wire.OpSymlink, Need: L | rights.Symlink, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpSymlink, Handle: h, Path: "newlink", Path2: "f.txt"}
		}},
		{Op: wire.OpReadlink, Need: L | rights.Readlink, Request: at(wire.OpReadlink, "link")},
		{Op: wire.OpChmod, Need: L | rights.Chmod, Request: at(wire.OpChmod, "f.txt")},
		// -1, -1 keeps the owner and group, for which chmod does as well
		// as chown (vfsops.Request.KeepsOwner): the denied handle lacks
		// both. tests/differential gives files another owner, which
		// needs chown.
		{Op: wire.OpChown, Need: L | rights.Chown | rights.Chmod, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpChown, Handle: h, Path: "f.txt", UID: -1, GID: -1, Follow: true}
		}},
		{Op: wire.OpChtimes, Need: L | rights.Chtimes, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpChtimes, Handle: h, Path: "f.txt", Atime: wire.Timespec{Sec: 1}, Mtime: wire.Timespec{Sec: 2}, Follow: true}
		}},
		{Op: wire.OpRename, Need: L | rights.RenameFrom | rights.RenameTo, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpRename, Handle: h, Path: "f.txt", Handle2: h, Path2: "g.txt"}
		}},
		{Op: wire.OpLink, Need: L | rights.LinkFrom | rights.LinkTo, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpLink, Handle: h, Path: "f.txt", Handle2: h, Path2: "g.txt"}
		}},
		{Op: wire.OpDup, Need: rights.All, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpDup, Handle: h, Pair: rights.Uniform(rights.All)}
		}},

		{Op: wire.OpRead, Need: rights.Read, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpRead, Handle: h, Count: 16}
		}},
		{Op: wire.OpPread, Need: rights.Read | rights.Seek, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpPread, Handle: h, Count: 16, Offset: 1}
		}},
		{Op: wire.OpWrite, Need: rights.Write, File: "f.txt", FileFlags: unix.O_WRONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpWrite, Handle: h, Data: []byte("x")}
		}},
		{Op: wire.OpPwrite, Need: rights.Write | rights.Seek, File: "f.txt", FileFlags: unix.O_WRONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpPwrite, Handle: h, Data: []byte("x"), Offset: 3}
		}},
		{Op: wire.OpSeek, Need: rights.Seek, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpSeek, Handle: h, Offset: 2}
		}},
		{Op: wire.OpFstat, Need: rights.Stat, File: "f.txt", FileFlags: unix.O_RDONLY, Request: on(wire.OpFstat)},
		{Op: wire.OpFtruncate, Need: rights.Truncate, File: "f.txt", FileFlags: unix.O_WRONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFtruncate, Handle: h, Offset: 1}
		}},
		{Op: wire.OpFchmod, Need: rights.Chmod, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFchmod, Handle: h, Mode: 0o600}
		}},
		{Op: wire.OpFchown, Need: rights.Chown | rights.Chmod, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFchown, Handle: h, UID: -1, GID: -1}
		}},
		{Op: wire.OpFutimes, Need: rights.Chtimes, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFutimes, Handle: h, Atime: wire.Timespec{Sec: 1}, Mtime: wire.Timespec{Sec: 2}}
		}},
		{Op: wire.OpSync, Need: rights.Sync, File: "f.txt", FileFlags: unix.O_RDONLY, Request: on(wire.OpSync)},
		{Op: wire.OpLock, Need: rights.Lock, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpLock, Handle: h, SysFlags: unix.LOCK_SH}
		}},
		{Op: wire.OpReaddir, Need: rights.Readdir, File: "sub", FileFlags: unix.O_RDONLY | unix.O_DIRECTORY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpReaddir, Handle: h, Count: 4096}
		}},
		{Op: wire.OpXattrGet, Need: rights.XattrGet, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpXattrGet, Handle: h, Name: "user.capfd"}
		}},
		{Op: wire.OpXattrList, Need: rights.XattrGet, File: "f.txt", FileFlags: unix.O_RDONLY, Request: on(wire.OpXattrList)},
		{Op: wire.OpXattrSet, Need: rights.XattrSet, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpXattrSet, Handle: h, Name: "user.other", Data: []byte("v")}
		}},
		{Op: wire.OpXattrRemove, Need: rights.XattrSet, File: "f.txt", FileFlags: unix.O_RDONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpXattrRemove, Handle: h, Name: "user.capfd"}
		}},
		{Op: wire.OpExec, Need: rights.Exec, File: "f.txt", FileFlags: unix.O_PATH, FD: true, Request: on(wire.OpExec)},
		{Op: wire.OpReopen, Need: rights.Lookup | rights.Read, File: "f.txt", FileFlags: unix.O_PATH, DeniedFlags: unix.O_WRONLY, Request: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpReopen, Handle: h, SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}}
		}},
	}
}

// Uncovered are the operations OpCases leaves out on purpose.
var Uncovered = map[wire.Op]string{
	wire.OpHello: "the handshake",
	wire.OpClose: "needs no rights",
	wire.OpFd:    "no right of its own: checked by access mode (see the read-only tests)",
}

// MakeOpTree fills dir with what the cases act on, and reports whether the
// file system takes user xattrs.
func MakeOpTree(t testing.TB, dir string) (xattrs bool) {
	t.Helper()
	for _, err := range []error{
		os.WriteFile(filepath.Join(dir, "f.txt"), []byte("0123456789"), 0o644),
		os.Mkdir(filepath.Join(dir, "sub"), 0o755),
		os.Mkdir(filepath.Join(dir, "empty"), 0o755),
		os.Symlink("f.txt", filepath.Join(dir, "link")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return unix.Setxattr(filepath.Join(dir, "f.txt"), "user.capfd", []byte("v"), 0) == nil
}

// RunOpCase serves tc on a handle made beneath root at caseDir (a path
// beneath root; hostDir is the same directory on the host, made with
// MakeOpTree) and checks the outcome: allowed, the op succeeds (an xattr op
// may fail where the file system has none); denied, the broker refuses it
// as not capable, names a missing right among those the op needs, and
// f.txt keeps its bytes. It returns the reply.
func RunOpCase(t testing.TB, c Caller, root uint32, caseDir, hostDir string, xattrs bool, tc OpCase, allowed bool) wire.Reply {
	t.Helper()
	held := tc.Need
	if !allowed {
		held = rights.All &^ tc.Need
	}
	var h uint32
	if tc.File == "" {
		rep, _ := c.Call(&wire.Request{Op: wire.OpOpenDir, Handle: root, Path: caseDir, Pair: rights.Pair{Base: held, Inherit: held | tc.Inherit}})
		if rep.Err != nil {
			t.Fatalf("opendir %s: %+v", caseDir, *rep.Err)
		}
		h = rep.NewHandle
	} else {
		flags := tc.FileFlags
		if !allowed {
			flags = unix.O_PATH
			if tc.DeniedFlags != 0 {
				flags = tc.DeniedFlags
			}
		}
		// The handle also holds what its open flags need: an access mode
		// is only granted with its rights.
		modeNeed, _ := vfsops.OpenRights(flags)
		rep, fd := c.Call(&wire.Request{Op: wire.OpOpen, Handle: root, Path: path.Join(caseDir, tc.File), SysFlags: uint32(flags), Pair: rights.Pair{Base: held | modeNeed}})
		if fd >= 0 {
			unix.Close(fd)
		}
		if rep.Err != nil {
			t.Fatalf("open %s: %+v", tc.File, *rep.Err)
		}
		h = rep.NewHandle
	}
	before, _ := os.ReadFile(filepath.Join(hostDir, "f.txt"))
	rep, fd := c.Call(tc.Request(h))
	if fd >= 0 {
		unix.Close(fd)
	}
	if allowed {
		if rep.Err != nil {
			noXattrs := rep.Err.Errno == uint32(unix.ENODATA) || rep.Err.Errno == uint32(unix.EOPNOTSUPP)
			if !(noXattrs && !xattrs) {
				t.Errorf("allowed: %v failed: %+v", tc.Op, *rep.Err)
			}
		} else if tc.FD && fd < 0 {
			t.Errorf("allowed: %v reply carries no descriptor", tc.Op)
		}
		return rep
	}
	if rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
		t.Fatalf("denied: %v got %+v, want not-capable", tc.Op, rep.Err)
	}
	if missing := rep.Err.Held.Missing(rep.Err.Needed); missing&tc.Need == 0 {
		t.Errorf("denied: missing %v names none of %v", missing, tc.Need)
	}
	if after, _ := os.ReadFile(filepath.Join(hostDir, "f.txt")); string(before) != string(after) {
		t.Errorf("denied %v changed the file: %q -> %q", tc.Op, before, after)
	}
	return rep
}
