package wire

import "fmt"

// Op is an operation code. The numbers are ABI: never renumber, only append.
// Control operations sit below 16; filesystem operations mirror the vfsops
// operation table (the broker maps one to the other).
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

	opEnd = OpBindMount + 1 // sentinel for tables: keep equal to the last op + 1
)

var opNames = map[Op]string{
	OpHello: "hello", OpClose: "close", OpDup: "dup", OpOpenDir: "opendir", OpFd: "fd", OpXattrRemove: "xattr-remove",
	OpOpen: "open", OpReopen: "reopen", OpRead: "read", OpPread: "pread",
	OpWrite: "write", OpPwrite: "pwrite", OpSeek: "seek", OpStat: "stat",
	OpFstat: "fstat", OpTruncate: "truncate", OpFtruncate: "ftruncate",
	OpReaddir: "readdir", OpMkdir: "mkdir", OpUnlink: "unlink", OpRmdir: "rmdir",
	OpRename: "rename", OpLink: "link", OpSymlink: "symlink",
	OpReadlink: "readlink", OpChmod: "chmod", OpChown: "chown",
	OpChtimes: "chtimes", OpFchmod: "fchmod", OpFchown: "fchown",
	OpFutimes: "futimes", OpXattrGet: "xattr-get", OpXattrSet: "xattr-set",
	OpXattrList: "xattr-list", OpSync: "sync", OpLock: "lock", OpExec: "exec",
	OpBindMount: "bind-mount",
}

func (op Op) String() string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("op(%d)", uint16(op))
}

// Known reports whether this build defines op.
func (op Op) Known() bool {
	_, ok := requestSchema[op]
	return ok
}

// Ops returns every operation this build defines, in code order.
func Ops() []Op {
	var out []Op
	for op := Op(0); op < opEnd; op++ {
		if op.Known() {
			out = append(out, op)
		}
	}
	return out
}

// ParseOp returns the operation with the given name.
func ParseOp(name string) (Op, bool) {
	for op, n := range opNames {
		if n == name {
			return op, true
		}
	}
	return 0, false
}
