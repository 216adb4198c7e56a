package wire

import (
	"fmt"

	"github.com/capfd/capfd/vfsops"
)

// Op is an operation code. The numbers are ABI: never renumber, only append.
// Control operations sit below 16; filesystem operations mirror the vfsops
// operation table (opTable says which vfsops operation each one is).
type Op uint16

const (
	OpHello Op = 1 // negotiate version, answer supported rights, list roots
	OpClose Op = 2 // forget a handle
	OpDup   Op = 3 // a second handle to the same object with rights within the first's

	OpOpen        Op = 16 // open a file beneath a directory handle: new handle, optional fd
	OpReopen      Op = 17 // open a handle's object afresh: new handle, optional fd
	OpRead        Op = 18
	OpPread       Op = 19
	OpWrite       Op = 20
	OpPwrite      Op = 21
	OpSeek        Op = 22
	OpStat        Op = 23 // stat a path beneath a directory handle
	OpFstat       Op = 24 // stat the handle itself
	OpTruncate    Op = 25 // truncate a path beneath a directory handle
	OpFtruncate   Op = 26
	OpReaddir     Op = 27
	OpMkdir       Op = 28
	OpUnlink      Op = 29
	OpRmdir       Op = 30
	OpRename      Op = 31 // handle: source dir; Handle2: target dir
	OpLink        Op = 32 // handle: source dir; Handle2: target dir
	OpSymlink     Op = 33
	OpReadlink    Op = 34
	OpChmod       Op = 35
	OpChown       Op = 36
	OpChtimes     Op = 37
	OpFchmod      Op = 38
	OpFchown      Op = 39
	OpFutimes     Op = 40
	OpXattrGet    Op = 41
	OpXattrSet    Op = 42
	OpXattrList   Op = 43
	OpSync        Op = 44
	OpLock        Op = 45
	OpExec        Op = 46 // a descriptor to execveat, only with the exec right
	OpOpenDir     Op = 47 // open a directory beneath a directory handle: new handle
	OpFd          Op = 48 // pass the handle's own descriptor (shares its offset)
	OpXattrRemove Op = 49
	OpBindMount   Op = 50 // handle: source (file or dir); Handle2: target dir; Path: beneath it

	// OpEnd bounds tables indexed by op (opTable here, the broker's
	// handler table): keep it equal to the last op + 1.
	OpEnd = OpBindMount + 1
)

// opSpec is everything the protocol says about one op. One table rather
// than a map per fact, so that adding an op is one line here (and one
// handler in the broker's table, which its tests check against this one).
type opSpec struct {
	// name is the op's name in metrics, audit records and errors. A
	// filesystem op's is its vfsops operation's name (TestOpTableMirrorsVFS).
	name string
	// vfs is the vfsops operation whose rights the op is checked against;
	// vfsops.OpInvalid for a control op, which says in why it has none.
	vfs vfsops.Op
	why string
	// also is a second vfsops operation the op performs, chosen by the
	// handle rather than the request (write on an O_APPEND handle is
	// append).
	also    vfsops.Op
	request field  // the request body's fields
	reply   field  // the reply body's fields
	fd      fdRule // whether the reply carries a descriptor
	post    bool   // may be sent with FlagNoReply
}

// fsOp and ctlOp build opTable's entries: a filesystem op names its vfsops
// operation, a control op the reason it has none.
func fsOp(name string, vfs vfsops.Op, request, reply field) opSpec {
	return opSpec{name: name, vfs: vfs, request: request, reply: reply}
}

func ctlOp(name, why string, request, reply field) opSpec {
	return opSpec{name: name, why: why, request: request, reply: reply}
}

func (s opSpec) withFD(r fdRule) opSpec          { s.fd = r; return s }
func (s opSpec) posted() opSpec                  { s.post = true; return s }
func (s opSpec) alsoPerforms(v vfsops.Op) opSpec { s.also = v; return s }

// opTable is the protocol. A zero entry (no name) is an op this build does
// not define: encoding and decoding refuse it.
var opTable = [OpEnd]opSpec{
	OpHello: ctlOp("hello", "the handshake: negotiates the version and lists the roots before there is a handle",
		rqVersions|rqRequested, rpHello|rpRoots),
	// Close is posted (no reply): a client can always forget what it holds,
	// and waiting for an answer it could not act on would cost a round trip.
	OpClose: ctlOp("close", "forgets a handle: needs no rights, a client may always drop what it holds", 0, 0).posted(),
	OpDup: ctlOp("dup", "a second handle with rights within the first's (Dir.Limit, File.Limit): no operation on the object",
		rqPair, rpHandle|rpPair),
	OpOpenDir: ctlOp("opendir", "an O_PATH|O_DIRECTORY open: needs vfsops.OpenRights of those flags, which no table operation names",
		rqPath|rqResolve|rqPair, rpHandle|rpPair),
	OpFd: ctlOp("fd", "passes the handle's own descriptor: bounded by its access mode (vfsops.AccessModeFor), not by an operation",
		0, 0).withFD(fdAlways),

	OpOpen:      fsOp("open", vfsops.OpOpen, rqPath|rqFlags|rqMode|rqResolve|rqPair, rpHandle|rpPair).withFD(fdOnRequest),
	OpReopen:    fsOp("reopen", vfsops.OpReopen, rqFlags|rqPair, rpHandle|rpPair).withFD(fdOnRequest),
	OpRead:      fsOp("read", vfsops.OpRead, rqCount, rpData),
	OpPread:     fsOp("pread", vfsops.OpPread, rqOffset|rqCount, rpData),
	OpWrite:     fsOp("write", vfsops.OpWrite, rqData, rpOffset).alsoPerforms(vfsops.OpAppend),
	OpPwrite:    fsOp("pwrite", vfsops.OpPwrite, rqOffset|rqData, rpOffset),
	OpSeek:      fsOp("seek", vfsops.OpSeek, rqFlags|rqOffset, rpOffset),
	OpStat:      fsOp("stat", vfsops.OpStat, rqPath|rqResolve|rqFollow, rpStat),
	OpFstat:     fsOp("fstat", vfsops.OpFstat, 0, rpStat),
	OpTruncate:  fsOp("truncate", vfsops.OpTruncate, rqPath|rqResolve|rqOffset, 0),
	OpFtruncate: fsOp("ftruncate", vfsops.OpFtruncate, rqOffset, 0),
	// Readdir's data are raw linux_dirent64 records, as getdents64 wrote them.
	OpReaddir: fsOp("readdir", vfsops.OpReaddir, rqCount, rpData),
	OpMkdir:   fsOp("mkdir", vfsops.OpMkdir, rqPath|rqMode|rqResolve, 0),
	OpUnlink:  fsOp("unlink", vfsops.OpUnlink, rqPath|rqResolve, 0),
	OpRmdir:   fsOp("rmdir", vfsops.OpRmdir, rqPath|rqResolve, 0),
	// Rename's flags are renameat2's.
	OpRename:      fsOp("rename", vfsops.OpRename, rqHandle2|rqPath|rqPath2|rqFlags|rqResolve, 0),
	OpLink:        fsOp("link", vfsops.OpLink, rqHandle2|rqPath|rqPath2|rqResolve, 0),
	OpSymlink:     fsOp("symlink", vfsops.OpSymlink, rqPath|rqPath2|rqResolve, 0),
	OpReadlink:    fsOp("readlink", vfsops.OpReadlink, rqPath|rqResolve, rpText),
	OpChmod:       fsOp("chmod", vfsops.OpChmod, rqPath|rqMode|rqResolve, 0),
	OpChown:       fsOp("chown", vfsops.OpChown, rqPath|rqResolve|rqFollow|rqOwner, 0),
	OpChtimes:     fsOp("chtimes", vfsops.OpChtimes, rqPath|rqResolve|rqFollow|rqTimes, 0),
	OpFchmod:      fsOp("fchmod", vfsops.OpFchmod, rqMode, 0),
	OpFchown:      fsOp("fchown", vfsops.OpFchown, rqOwner, 0),
	OpFutimes:     fsOp("futimes", vfsops.OpFutimes, rqTimes, 0),
	OpXattrGet:    fsOp("xattr-get", vfsops.OpXattrGet, rqName, rpData),
	OpXattrSet:    fsOp("xattr-set", vfsops.OpXattrSet, rqFlags|rqName|rqData, 0),
	OpXattrList:   fsOp("xattr-list", vfsops.OpXattrList, 0, rpNames),
	OpXattrRemove: fsOp("xattr-remove", vfsops.OpXattrRemove, rqName, 0),
	OpSync:        fsOp("sync", vfsops.OpSync, 0, 0),
	OpLock:        fsOp("lock", vfsops.OpLock, rqFlags, 0),
	// Exec's descriptor is what the client runs execveat on.
	OpExec: fsOp("exec", vfsops.OpExec, 0, 0).withFD(fdAlways),
	// A bind mount takes no flags: open_tree's and move_mount's are the
	// broker's choice.
	OpBindMount: fsOp("bind-mount", vfsops.OpBindMount, rqHandle2|rqPath|rqResolve, 0),
}

// spec returns op's entry, and false for an op this build does not define
// (out of range, or a hole in the numbering).
func spec(op Op) (opSpec, bool) {
	if op >= OpEnd || opTable[op].name == "" {
		return opSpec{}, false
	}
	return opTable[op], true
}

func (op Op) String() string {
	if s, ok := spec(op); ok {
		return s.name
	}
	if op == OpBatch {
		return "batch"
	}
	return fmt.Sprintf("op(%d)", uint16(op))
}

// Known reports whether this build defines op.
func (op Op) Known() bool {
	_, ok := spec(op)
	return ok
}

// VFSOp returns the vfsops operation op performs, or vfsops.OpInvalid and
// the reason it performs none (a control op: hello, close, ...).
func (op Op) VFSOp() (vfsops.Op, string) {
	s, ok := spec(op)
	if !ok {
		return vfsops.OpInvalid, "not an op of this build"
	}
	return s.vfs, s.why
}

// ServedBy returns the op that performs the vfsops operation v: the op
// named for it, or the one that performs it as well (append is a write on
// an O_APPEND handle).
func ServedBy(v vfsops.Op) (Op, bool) {
	if !v.Valid() {
		return 0, false
	}
	for op := range OpEnd {
		if s, ok := spec(op); ok && (s.vfs == v || s.also == v) {
			return op, true
		}
	}
	return 0, false
}

// Ops returns every operation this build defines, in code order.
func Ops() []Op {
	var out []Op
	for op := range OpEnd {
		if op.Known() {
			out = append(out, op)
		}
	}
	return out
}

// ParseOp returns the operation with the given name.
func ParseOp(name string) (Op, bool) {
	for op := range OpEnd {
		if s, ok := spec(op); ok && s.name == name {
			return op, true
		}
	}
	return 0, false
}
