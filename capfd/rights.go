package capfd

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// FileRights are the rights that mean something on a File: what can be done
// to an open object itself. Directory-entry rights (create, mkdir, unlink,
// rename, link, symlink) are left out, since a File has no methods that act
// on entries; lookup and stat stay, because a File that is a directory
// stats its entries for ReadDir. A File opened through a Dir carries the
// Dir's Inherit rights restricted to FileRights.
const FileRights = rights.Lookup | rights.Read | rights.Write | rights.Append |
	rights.Seek | rights.Stat | rights.Truncate | rights.Exec | rights.Readlink |
	rights.Readdir | rights.Chmod | rights.Chown | rights.Chtimes |
	rights.XattrGet | rights.XattrSet | rights.Lock | rights.Sync |
	rights.MmapExec | rights.Ioctl | rights.Mount

// needs caches the vfsops operation table, indexed by op and operand, so
// that a check is an index and a mask, not a walk of the table per call.
var needs = buildNeeds()

// operands is how many Operand values the table can hold (they start at 1).
const operands = int(vfsops.OnObject) + 1

func buildNeeds() [][operands]rights.Rights {
	var t [][operands]rights.Rights
	for _, op := range vfsops.Ops() {
		for int(op) >= len(t) {
			t = append(t, [operands]rights.Rights{})
		}
		for on := range operands {
			t[op][on] = op.Needs(vfsops.Operand(on))
		}
	}
	return t
}

// need returns the rights op needs on operand, per the vfsops table. An op
// the table does not know needs everything, so that a mismatch between
// capfd and vfsops fails closed.
func need(op vfsops.Op, on vfsops.Operand) rights.Rights {
	if int(op) >= len(needs) || int(on) >= operands || !op.Valid() {
		return rights.All
	}
	return needs[op][on]
}

// objectNeed is what op needs of the object its path names (a placed
// operation bounds it by that object's own rights when it is a root).
func objectNeed(op vfsops.Op) rights.Rights {
	return vfsops.Request{Op: op}.On(vfsops.OnObject)
}

// openRequest is an open with flags, as vfsops decides it. The object's
// type is not known before the open: O_DIRECTORY stands for a directory.
func openRequest(flags int) vfsops.Request {
	return vfsops.Request{Op: vfsops.OpOpen, Flags: flags, IsDir: flags&unix.O_DIRECTORY != 0}
}

// openNeeds returns what an open with flags needs: dirNeed on the
// directory it is made through (checked against Base) and fileNeed on the
// new file (checked against Inherit, since the file is opened through the
// directory).
func openNeeds(flags int) (fileNeed, dirNeed rights.Rights) {
	fileNeed, dirNeed = vfsops.OpenRights(flags)
	return fileNeed, dirNeed | need(vfsops.OpOpen, vfsops.OnDir)
}
