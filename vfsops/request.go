package vfsops

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// Request is one operation with the facts its rights depend on. Every
// enforcement point (the library's Dir and File, the broker's served
// handles, the capfd run supervisor) asks Needs what a request requires
// and on which operand; the kernel layers' copies of the same rules are
// checked against it by tests (broker/lsm, tests/differential).
type Request struct {
	Op Op
	// Flags are open(2) flags for OpOpen and OpReopen, renameat2 flags
	// for OpRename; other operations ignore them.
	Flags int
	// IsDir says the object is a directory: a read-mode open of one reads
	// its entries, which is Readdir, not Read (OpenRightsOn). Unknown
	// (false) for an open that may create the object.
	IsDir bool
	// Replaces says OpRename's target name exists.
	Replaces bool
	// KeepsOwner says an OpChown or OpFchown changes neither the owner
	// nor the group (each id is -1 or the object's own). A holder of
	// chown may make any chown; layers ask the KeepsOwner form only of
	// an object without chown, so such a chown needs chown or chmod.
	KeepsOwner bool
}

// Needs returns what r requires, per operand: the operation table's
// requirements, plus the rules that depend on the request:
//
//   - open: the object's rights for the access mode and flags
//     (OpenRightsOn), and Create on the directory for O_CREAT and
//     O_TMPFILE;
//   - reopen: the new access mode's rights on the handle;
//   - rename over an existing entry: Unlink on the target directory, since
//     the old entry is destroyed (Capsicum asks CAP_UNLINKAT of the target
//     directory for the same reason); none with RENAME_NOREPLACE, which
//     fails instead;
//   - RENAME_EXCHANGE: each entry moves both ways, so rename-from and
//     rename-to on both directories, and nothing is destroyed: no Unlink;
//   - a chown that keeps the owner and group (KeepsOwner): Chmod instead
//     of Chown (where Chown is not held), since all it changes is what
//     chmod changes (the kernel
//     clears the set-id bits of a file whose owner is "changed", and
//     updates its ctime). cp -a and xz -k chown every copy to the owner it
//     already has.
//
// An unknown op needs everything (Requirements), so a caller that forgets
// to validate fails closed.
func (r Request) Needs() []Requirement {
	needs := r.Op.Requirements()
	switch r.Op {
	case OpOpen:
		file, dir := OpenRightsOn(r.Flags, r.IsDir)
		needs = append(needs, on(OnDir, dir), on(OnObject, file))
	case OpReopen:
		file, _ := OpenRightsOn(r.Flags, r.IsDir)
		needs = append(needs, on(OnHandle, file))
	case OpRename:
		switch {
		case r.Flags&unix.RENAME_EXCHANGE != 0:
			both := rights.RenameFrom | rights.RenameTo
			needs = append(needs, on(OnSourceDir, both), on(OnTargetDir, both))
		case r.Replaces && r.Flags&unix.RENAME_NOREPLACE == 0:
			needs = append(needs, on(OnTargetDir, rights.Unlink))
		}
	case OpChown, OpFchown:
		if r.KeepsOwner {
			for i, n := range needs {
				if n.Rights.Has(rights.Chown) {
					needs[i].Rights = n.Rights.Without(rights.Chown) | rights.Chmod
				}
			}
		}
	}
	return merge(needs)
}

// DependsOnType reports whether what r needs depends on whether its object
// is a directory, which only the opened object can settle: a read-mode
// open without O_DIRECTORY or O_PATH reads a file's bytes (read) or a
// directory's entries (readdir). A layer deciding before the open refuses
// only what neither allows, and checks the opened object's type after.
func (r Request) DependsOnType() bool {
	return r.Op == OpOpen && !r.IsDir && r.Flags&(unix.O_DIRECTORY|unix.O_PATH) == 0 &&
		r.Flags&unix.O_ACCMODE == unix.O_RDONLY
}

// On returns the union of what r needs on operand.
func (r Request) On(operand Operand) rights.Rights {
	var out rights.Rights
	for _, n := range r.Needs() {
		if n.Operand == operand {
			out |= n.Rights
		}
	}
	return out
}

// Missing returns what r needs and have lacks, given the rights of each
// operand (rights.Pair.Dir and Object say what those are for a path
// resolved through a handle). An operand absent from have holds nothing.
func (r Request) Missing(have map[Operand]rights.Rights) rights.Rights {
	var missing rights.Rights
	for _, n := range r.Needs() {
		missing |= have[n.Operand].Missing(n.Rights)
	}
	return missing
}

// merge folds requirements on the same operand into one, in first-seen
// order, dropping empty ones.
func merge(in []Requirement) []Requirement {
	out := in[:0:0]
	for _, n := range in {
		if n.Rights == 0 {
			continue
		}
		found := false
		for i := range out {
			if out[i].Operand == n.Operand {
				out[i].Rights |= n.Rights
				found = true
			}
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}

// KeepsOwner reports whether a chown to uid and gid (-1: unchanged) of an
// object owned by ownerUID and ownerGID changes neither (Request.KeepsOwner).
func KeepsOwner(uid, gid int, ownerUID, ownerGID uint32) bool {
	return (uid == -1 || uint32(uid) == ownerUID) && (gid == -1 || uint32(gid) == ownerGID)
}
