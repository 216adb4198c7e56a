package broker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// opCase is one operation served on a handle that holds exactly what it
// needs (allowed) or everything but that (denied).
type opCase struct {
	op   wire.Op
	need rights.Rights // rights of the handle under test the op needs
	// inherit is added to a directory handle's inherit rights in both
	// variants: what the op's new handle is granted from.
	inherit rights.Rights
	// file, when set, makes the handle under test a file opened with
	// these flags (allowed) beneath the root; otherwise it is a directory
	// handle with the rights as both base and inherit.
	file       string
	fileFlags  int
	deniedFlag int // flags for the denied variant's open (default O_PATH)
	req        func(h uint32) *wire.Request
	fd         bool // a successful reply carries a descriptor
}

func opCases() []opCase {
	on := func(op wire.Op) func(uint32) *wire.Request {
		return func(h uint32) *wire.Request { return &wire.Request{Op: op, Handle: h} }
	}
	path := func(op wire.Op, p string) func(uint32) *wire.Request {
		return func(h uint32) *wire.Request { return &wire.Request{Op: op, Handle: h, Path: p, Mode: 0o600} }
	}
	L := rights.Lookup
	return []opCase{
		{op: wire.OpOpen, need: L, inherit: rights.Read, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpOpen, Handle: h, Path: "f.txt", SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}}
		}},
		{op: wire.OpOpenDir, need: L, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpOpenDir, Handle: h, Path: "sub", Pair: rights.Uniform(rights.Lookup)}
		}},
		{op: wire.OpStat, need: L | rights.Stat, req: path(wire.OpStat, "f.txt")},
		{op: wire.OpTruncate, need: L | rights.Truncate, req: path(wire.OpTruncate, "f.txt")},
		{op: wire.OpMkdir, need: L | rights.Mkdir, req: path(wire.OpMkdir, "newdir")},
		{op: wire.OpUnlink, need: L | rights.Unlink, req: path(wire.OpUnlink, "f.txt")},
		{op: wire.OpRmdir, need: L | rights.Unlink, req: path(wire.OpRmdir, "empty")},
		{op: wire.OpSymlink, need: L | rights.Symlink, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpSymlink, Handle: h, Path: "newlink", Path2: "f.txt"}
		}},
		{op: wire.OpReadlink, need: L | rights.Readlink, req: path(wire.OpReadlink, "link")},
		{op: wire.OpChmod, need: L | rights.Chmod, req: path(wire.OpChmod, "f.txt")},
		{op: wire.OpChown, need: L | rights.Chown, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpChown, Handle: h, Path: "f.txt", UID: -1, GID: -1, Follow: true}
		}},
		{op: wire.OpChtimes, need: L | rights.Chtimes, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpChtimes, Handle: h, Path: "f.txt", Atime: wire.Timespec{Sec: 1}, Mtime: wire.Timespec{Sec: 2}, Follow: true}
		}},
		{op: wire.OpRename, need: L | rights.RenameFrom | rights.RenameTo, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpRename, Handle: h, Path: "f.txt", Handle2: h, Path2: "g.txt"}
		}},
		{op: wire.OpLink, need: L | rights.LinkFrom | rights.LinkTo, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpLink, Handle: h, Path: "f.txt", Handle2: h, Path2: "g.txt"}
		}},
		{op: wire.OpDup, need: rights.All, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpDup, Handle: h, Pair: rights.Uniform(rights.All)}
		}},

		{op: wire.OpRead, need: rights.Read, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpRead, Handle: h, Count: 16}
		}},
		{op: wire.OpPread, need: rights.Read | rights.Seek, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpPread, Handle: h, Count: 16, Offset: 1}
		}},
		{op: wire.OpWrite, need: rights.Write, file: "f.txt", fileFlags: unix.O_WRONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpWrite, Handle: h, Data: []byte("x")}
		}},
		{op: wire.OpPwrite, need: rights.Write | rights.Seek, file: "f.txt", fileFlags: unix.O_WRONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpPwrite, Handle: h, Data: []byte("x"), Offset: 3}
		}},
		{op: wire.OpSeek, need: rights.Seek, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpSeek, Handle: h, Offset: 2}
		}},
		{op: wire.OpFstat, need: rights.Stat, file: "f.txt", fileFlags: unix.O_RDONLY, req: on(wire.OpFstat)},
		{op: wire.OpFtruncate, need: rights.Truncate, file: "f.txt", fileFlags: unix.O_WRONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFtruncate, Handle: h, Offset: 1}
		}},
		{op: wire.OpFchmod, need: rights.Chmod, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFchmod, Handle: h, Mode: 0o600}
		}},
		{op: wire.OpFchown, need: rights.Chown, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFchown, Handle: h, UID: -1, GID: -1}
		}},
		{op: wire.OpFutimes, need: rights.Chtimes, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpFutimes, Handle: h, Atime: wire.Timespec{Sec: 1}, Mtime: wire.Timespec{Sec: 2}}
		}},
		{op: wire.OpSync, need: rights.Sync, file: "f.txt", fileFlags: unix.O_RDONLY, req: on(wire.OpSync)},
		{op: wire.OpLock, need: rights.Lock, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpLock, Handle: h, SysFlags: unix.LOCK_SH}
		}},
		{op: wire.OpReaddir, need: rights.Readdir, file: "sub", fileFlags: unix.O_RDONLY | unix.O_DIRECTORY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpReaddir, Handle: h, Count: 4096}
		}},
		{op: wire.OpXattrGet, need: rights.XattrGet, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpXattrGet, Handle: h, Name: "user.capfd"}
		}},
		{op: wire.OpXattrList, need: rights.XattrGet, file: "f.txt", fileFlags: unix.O_RDONLY, req: on(wire.OpXattrList)},
		{op: wire.OpXattrSet, need: rights.XattrSet, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpXattrSet, Handle: h, Name: "user.other", Data: []byte("v")}
		}},
		{op: wire.OpXattrRemove, need: rights.XattrSet, file: "f.txt", fileFlags: unix.O_RDONLY, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpXattrRemove, Handle: h, Name: "user.capfd"}
		}},
		{op: wire.OpExec, need: rights.Exec, file: "f.txt", fileFlags: unix.O_PATH, fd: true, req: on(wire.OpExec)},
		{op: wire.OpReopen, need: rights.Lookup | rights.Read, file: "f.txt", fileFlags: unix.O_PATH, deniedFlag: unix.O_WRONLY, fd: false, req: func(h uint32) *wire.Request {
			return &wire.Request{Op: wire.OpReopen, Handle: h, SysFlags: unix.O_RDONLY, Pair: rights.Pair{Base: rights.Read}}
		}},
	}
}

// opTree makes the files every op case acts on.
func opTree(t *testing.T) (dir string, xattrs bool) {
	t.Helper()
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("0123456789"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	os.Symlink("f.txt", filepath.Join(dir, "link"))
	xattrs = unix.Setxattr(filepath.Join(dir, "f.txt"), "user.capfd", []byte("v"), 0) == nil
	return dir, xattrs
}

// TestEveryOpAllowedAndDenied serves every operation twice through a raw
// client that skips capfd's client-side checks: once on a handle holding
// what the op needs (it succeeds), once on a handle holding everything but
// that (the broker refuses it with not-capable, names the missing rights,
// counts the denial, and leaves the file system untouched).
func TestEveryOpAllowedAndDenied(t *testing.T) {
	covered := map[wire.Op]bool{wire.OpHello: true, wire.OpClose: true, wire.OpFd: true}
	for _, tc := range opCases() {
		covered[tc.op] = true
		t.Run(tc.op.String(), func(t *testing.T) {
			for _, allowed := range []bool{true, false} {
				dir, xattrs := opTree(t)
				srv := newServer(t, Config{})
				rc := rawServed(t, srv, []Grant{{Name: "root", Path: dir, Rights: rights.Uniform(rights.All)}})
				root := rc.roots["root"]
				held := tc.need
				if !allowed {
					held = rights.All &^ tc.need
				}
				var h uint32
				if tc.file == "" {
					rep, _ := rc.call(&wire.Request{Op: wire.OpOpenDir, Handle: root, Path: ".", Pair: rights.Pair{Base: held, Inherit: held | tc.inherit}})
					if rep.Err != nil {
						t.Fatalf("opendir: %+v", *rep.Err)
					}
					h = rep.NewHandle
				} else {
					flags := tc.fileFlags
					if !allowed {
						flags = unix.O_PATH
						if tc.deniedFlag != 0 {
							flags = tc.deniedFlag
						}
					}
					// The handle also holds what its open flags need: an
					// access mode is only granted with its rights.
					modeNeed, _ := vfsops.OpenRights(flags)
					h = rc.open(root, tc.file, flags, held|modeNeed)
				}
				before, _ := os.ReadFile(filepath.Join(dir, "f.txt"))
				rep, fd := rc.call(tc.req(h))
				if fd >= 0 {
					unix.Close(fd)
				}
				if allowed {
					if rep.Err != nil {
						enodata := rep.Err.Errno == uint32(unix.ENODATA) || rep.Err.Errno == uint32(unix.EOPNOTSUPP)
						if !(enodata && !xattrs) {
							t.Errorf("allowed: %v failed: %+v", tc.op, *rep.Err)
						}
					}
					if tc.fd && fd < 0 && rep.Err == nil {
						t.Errorf("allowed: %v reply carries no descriptor", tc.op)
					}
					continue
				}
				if rep.Err == nil || rep.Err.Code != wire.CodeNotCapable {
					t.Fatalf("denied: %v got %+v, want not-capable", tc.op, rep.Err)
				}
				if missing := rep.Err.Held.Missing(rep.Err.Needed); missing&tc.need == 0 {
					t.Errorf("denied: missing %v names none of %v", missing, tc.need)
				}
				after, _ := os.ReadFile(filepath.Join(dir, "f.txt"))
				if string(before) != string(after) {
					t.Errorf("denied %v changed the file: %q -> %q", tc.op, before, after)
				}
				if got := testutil.ToFloat64(srv.m.ops.WithLabelValues(tc.op.String(), resultDenied)); got != 1 {
					t.Errorf("denied counter for %v = %v, want 1", tc.op, got)
				}
			}
		})
	}
	for _, op := range wire.Ops() {
		if !covered[op] {
			t.Errorf("op %v has no case", op)
		}
	}
}

// servedBy maps every operation of the vfsops table to the wire op that
// serves it, so that an operation added to the table without a way to
// reach it through the broker fails this test.
var servedBy = map[vfsops.Op]wire.Op{
	vfsops.OpOpen: wire.OpOpen, vfsops.OpReopen: wire.OpReopen, vfsops.OpRead: wire.OpRead,
	vfsops.OpWrite: wire.OpWrite, vfsops.OpAppend: wire.OpWrite, vfsops.OpPread: wire.OpPread,
	vfsops.OpPwrite: wire.OpPwrite, vfsops.OpSeek: wire.OpSeek, vfsops.OpStat: wire.OpStat,
	vfsops.OpFstat: wire.OpFstat, vfsops.OpTruncate: wire.OpTruncate, vfsops.OpFtruncate: wire.OpFtruncate,
	vfsops.OpReaddir: wire.OpReaddir, vfsops.OpMkdir: wire.OpMkdir, vfsops.OpUnlink: wire.OpUnlink,
	vfsops.OpRmdir: wire.OpRmdir, vfsops.OpRename: wire.OpRename, vfsops.OpLink: wire.OpLink,
	vfsops.OpSymlink: wire.OpSymlink, vfsops.OpReadlink: wire.OpReadlink, vfsops.OpChmod: wire.OpChmod,
	vfsops.OpFchmod: wire.OpFchmod, vfsops.OpChown: wire.OpChown, vfsops.OpFchown: wire.OpFchown,
	vfsops.OpChtimes: wire.OpChtimes, vfsops.OpFutimes: wire.OpFutimes, vfsops.OpXattrGet: wire.OpXattrGet,
	vfsops.OpXattrList: wire.OpXattrList, vfsops.OpXattrSet: wire.OpXattrSet,
	vfsops.OpXattrRemove: wire.OpXattrRemove, vfsops.OpSync: wire.OpSync, vfsops.OpLock: wire.OpLock,
	vfsops.OpExec: wire.OpExec,
}

// notServed are the vfsops operations the broker deliberately does not
// serve, and why.
var notServed = map[vfsops.Op]string{
	vfsops.OpBindMount: "a mount would be made in the broker's mount namespace",
}

func TestWireCoversOpTable(t *testing.T) {
	for _, op := range vfsops.Ops() {
		w, ok := servedBy[op]
		if _, skip := notServed[op]; skip {
			continue
		}
		if !ok || !w.Known() {
			t.Errorf("vfsops op %v has no wire op serving it", op)
		}
	}
}
