package vfsops

import (
	"fmt"

	"github.com/capfd/capfd/rights"
)

// Op names one filesystem operation, for rights checks, errors, audit logs
// and metrics. The numbering is not ABI: use String/ParseOp on the wire.
type Op uint16

// The operations. Each has one entry in opTable below, which gives its name
// and the rights it needs, and says why.
const (
	OpInvalid Op = iota

	OpOpen
	OpReopen
	OpRead
	OpWrite
	OpAppend
	OpPread
	OpPwrite
	OpSeek
	OpStat
	OpFstat
	OpTruncate
	OpFtruncate
	OpReaddir
	OpMkdir
	OpUnlink
	OpRmdir
	OpRename
	OpLink
	OpSymlink
	OpReadlink
	OpChmod
	OpFchmod
	OpChown
	OpFchown
	OpChtimes
	OpFutimes
	OpXattrGet
	OpXattrList
	OpXattrSet
	OpXattrRemove
	OpSync
	OpLock
	OpExec
	OpBindMount

	opEnd // sentinel: keep last
)

// Operand says which handle of an operation a requirement applies to.
type Operand uint8

const (
	// OnHandle is the file or directory handle the operation acts on.
	OnHandle Operand = iota + 1
	// OnDir is the directory the path's final entry is looked up in (for
	// O_TMPFILE, the directory the path names, which gets the new file).
	// Its rights are rights.Pair.Dir of the handle the path is resolved
	// through: Base when it is the handle's own directory, Inherit when it
	// lies beneath (rights/pair.go says why).
	OnDir
	// OnSourceDir is the directory the source path of rename or link is
	// resolved in.
	OnSourceDir
	// OnTargetDir is the directory the target path of rename, link or a
	// bind mount is resolved in.
	OnTargetDir
	// OnObject is the object a path names (after a final symlink, for the
	// operations that follow one): stat, chmod, truncate, readlink and the
	// data rights of an open are the object's own, as they would be on a
	// handle for it. Its rights are rights.Pair.Object: Base when it is the
	// handle's own directory, Inherit otherwise.
	OnObject
)

func (o Operand) String() string {
	switch o {
	case OnHandle:
		return "handle"
	case OnDir:
		return "dir"
	case OnSourceDir:
		return "source-dir"
	case OnTargetDir:
		return "target-dir"
	case OnObject:
		return "object"
	}
	return fmt.Sprintf("Operand(%d)", uint8(o))
}

// Requirement is a set of rights one operand of an operation must hold.
type Requirement struct {
	Operand Operand
	Rights  rights.Rights
}

func (r Requirement) String() string { return r.Operand.String() + ":" + r.Rights.String() }

type opInfo struct {
	name  string
	needs []Requirement
}

func on(operand Operand, r rights.Rights) Requirement { return Requirement{operand, r} }

// opTable is the operation table. Every path operation needs Lookup on the
// directory it resolves in: resolving is what Lookup grants, and a handle
// without it is a leaf that can only be used as itself.
var opTable = [opEnd]opInfo{
	// Open needs Lookup on the directory; what the opened object needs
	// (and Create on the directory) depends on the flags: Request.Needs
	// adds it from OpenRightsOn.
	OpOpen: {"open", []Requirement{on(OnDir, rights.Lookup)}},
	// Reopen upgrades an O_PATH handle to an open file: the handle must be
	// allowed to be named (Lookup); the access mode's rights come from
	// OpenRights, checked on the same handle.
	OpReopen: {"reopen", []Requirement{on(OnHandle, rights.Lookup)}},
	OpRead:   {"read", []Requirement{on(OnHandle, rights.Read)}},
	// Write rewrites bytes at the offset: Write. Append-only handles use
	// OpAppend instead.
	OpWrite: {"write", []Requirement{on(OnHandle, rights.Write)}},
	// Append is write(2) on a handle opened O_APPEND: the kernel puts every
	// byte at the end, so Append is enough and Write is not needed (this is
	// what makes append-only logs possible).
	OpAppend: {"append", []Requirement{on(OnHandle, rights.Append)}},
	// Pread and pwrite pick their offset, which is what Seek guards: a
	// handle without Seek is a stream (Capsicum: CAP_PREAD = READ|SEEK).
	OpPread:  {"pread", []Requirement{on(OnHandle, rights.Read|rights.Seek)}},
	OpPwrite: {"pwrite", []Requirement{on(OnHandle, rights.Write|rights.Seek)}},
	OpSeek:   {"seek", []Requirement{on(OnHandle, rights.Seek)}},
	OpStat:   {"stat", []Requirement{on(OnDir, rights.Lookup), on(OnObject, rights.Stat)}},
	OpFstat:  {"fstat", []Requirement{on(OnHandle, rights.Stat)}},
	// Truncating by path opens the file for writing; Truncate alone is the
	// right for it (O_TRUNC needs it too), Write is not implied. Like the
	// other operations on the object a path names, it is the object's
	// right, as it would be on a handle for it (OnObject).
	OpTruncate:  {"truncate", []Requirement{on(OnDir, rights.Lookup), on(OnObject, rights.Truncate)}},
	OpFtruncate: {"ftruncate", []Requirement{on(OnHandle, rights.Truncate)}},
	OpReaddir:   {"readdir", []Requirement{on(OnHandle, rights.Readdir)}},
	OpMkdir:     {"mkdir", []Requirement{on(OnDir, rights.Lookup|rights.Mkdir)}},
	// Unlink and rmdir change the directory, not the object: the right is
	// the directory's (as write permission on the directory is in POSIX).
	OpUnlink: {"unlink", []Requirement{on(OnDir, rights.Lookup|rights.Unlink)}},
	OpRmdir:  {"rmdir", []Requirement{on(OnDir, rights.Lookup|rights.Unlink)}},
	// Rename takes an entry out of one directory and puts it in another.
	// Replacing an existing target also unlinks it, and an exchange moves
	// entries both ways: Request.Needs adds those rules.
	OpRename: {"rename", []Requirement{on(OnSourceDir, rights.Lookup|rights.RenameFrom), on(OnTargetDir, rights.Lookup|rights.RenameTo)}},
	// Link makes the source reachable from the target too: LinkFrom on the
	// directory it is taken from (Capsicum's CAP_LINKAT_SOURCE is on the
	// source directory too), LinkTo on the one it appears in.
	OpLink:     {"link", []Requirement{on(OnSourceDir, rights.Lookup|rights.LinkFrom), on(OnTargetDir, rights.Lookup|rights.LinkTo)}},
	OpSymlink:  {"symlink", []Requirement{on(OnDir, rights.Lookup|rights.Symlink)}},
	OpReadlink: {"readlink", []Requirement{on(OnDir, rights.Lookup), on(OnObject, rights.Readlink)}},
	// The metadata changes need their own right on the object, by path or
	// on a handle; none of them needs Write (POSIX ties them to ownership,
	// not to the data).
	OpChmod:   {"chmod", []Requirement{on(OnDir, rights.Lookup), on(OnObject, rights.Chmod)}},
	OpFchmod:  {"fchmod", []Requirement{on(OnHandle, rights.Chmod)}},
	OpChown:   {"chown", []Requirement{on(OnDir, rights.Lookup), on(OnObject, rights.Chown)}},
	OpFchown:  {"fchown", []Requirement{on(OnHandle, rights.Chown)}},
	OpChtimes: {"chtimes", []Requirement{on(OnDir, rights.Lookup), on(OnObject, rights.Chtimes)}},
	OpFutimes: {"futimes", []Requirement{on(OnHandle, rights.Chtimes)}},
	// Listing attribute names reveals no more than reading them: both are
	// XattrGet. Removing is a kind of setting: XattrSet.
	OpXattrGet:    {"xattr-get", []Requirement{on(OnHandle, rights.XattrGet)}},
	OpXattrList:   {"xattr-list", []Requirement{on(OnHandle, rights.XattrGet)}},
	OpXattrSet:    {"xattr-set", []Requirement{on(OnHandle, rights.XattrSet)}},
	OpXattrRemove: {"xattr-remove", []Requirement{on(OnHandle, rights.XattrSet)}},
	OpSync:        {"sync", []Requirement{on(OnHandle, rights.Sync)}},
	OpLock:        {"lock", []Requirement{on(OnHandle, rights.Lock)}},
	// Exec needs only Exec: execveat on the fd reads the file in the
	// kernel, and the new image cannot reach the handle's data rights.
	OpExec: {"exec", []Requirement{on(OnHandle, rights.Exec)}},
	// A bind mount publishes the object at a new place and changes the
	// target directory's view: Mount on both.
	OpBindMount: {"bind-mount", []Requirement{on(OnHandle, rights.Mount), on(OnTargetDir, rights.Lookup|rights.Mount)}},
}

// Ops returns every operation, in table order.
func Ops() []Op {
	ops := make([]Op, 0, opEnd-1)
	for op := OpInvalid + 1; op < opEnd; op++ {
		ops = append(ops, op)
	}
	return ops
}

// Valid reports whether op is a known operation.
func (op Op) Valid() bool { return op > OpInvalid && op < opEnd }

// String returns the operation's name ("open", "mkdir", ...).
func (op Op) String() string {
	if !op.Valid() {
		return fmt.Sprintf("Op(%d)", uint16(op))
	}
	return opTable[op].name
}

// Requirements returns the rights op needs, per operand. The slice is a copy.
// An unknown op requires everything, so that a caller that forgets to
// validate fails closed.
func (op Op) Requirements() []Requirement {
	if !op.Valid() {
		return []Requirement{{OnHandle, rights.All}}
	}
	return append([]Requirement(nil), opTable[op].needs...)
}

// Needs returns the union of the rights op needs on operand.
func (op Op) Needs(operand Operand) rights.Rights {
	var r rights.Rights
	for _, req := range op.Requirements() {
		if req.Operand == operand {
			r |= req.Rights
		}
	}
	return r
}

// ParseOp returns the operation named name.
func ParseOp(name string) (Op, error) {
	for op := OpInvalid + 1; op < opEnd; op++ {
		if opTable[op].name == name {
			return op, nil
		}
	}
	return OpInvalid, fmt.Errorf("unknown operation %q", name)
}

// MarshalText encodes op as its name.
func (op Op) MarshalText() ([]byte, error) {
	if !op.Valid() {
		return nil, fmt.Errorf("invalid operation %d", uint16(op))
	}
	return []byte(op.String()), nil
}

// UnmarshalText decodes an operation name.
func (op *Op) UnmarshalText(b []byte) error {
	v, err := ParseOp(string(b))
	if err != nil {
		return err
	}
	*op = v
	return nil
}
