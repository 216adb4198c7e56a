package landlock

import (
	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/capfd/capfd/rights"
)

// AccessFS is a set of Landlock filesystem access bits
// (LANDLOCK_ACCESS_FS_*).
type AccessFS = landlock.AccessFSSet

// The mapping from capfd rights to Landlock access, and its ABI floor.
//
// | capfd right  | Landlock access                         | ABI |
// |--------------|-----------------------------------------|-----|
// | read         | READ_FILE                               | 1   |
// | readdir      | READ_DIR                                | 1   |
// | write        | WRITE_FILE                              | 1   |
// | append       | WRITE_FILE: append-only is not expressible | 1 |
// | truncate     | TRUNCATE                                | 3   |
// | exec         | EXECUTE                                 | 1   |
// | create       | MAKE_REG                                | 1   |
// | mkdir        | MAKE_DIR                                | 1   |
// | unlink       | REMOVE_FILE, REMOVE_DIR                 | 1   |
// | symlink      | MAKE_SYM                                | 1   |
// | rename-from  | REFER, REMOVE_FILE, REMOVE_DIR          | 2   |
// | rename-to    | REFER, MAKE_REG, MAKE_DIR, MAKE_SYM     | 2   |
// | link-from    | REFER                                   | 2   |
// | link-to      | REFER, MAKE_REG, MAKE_SYM               | 2   |
// | ioctl        | IOCTL_DEV (device files only)           | 5   |
// | connect      | RESOLVE_UNIX (connect to a socket file) | 9   |
//
// Not expressible in Landlock at any ABI: lookup, seek, stat, readlink,
// chmod, chown, chtimes, xattr-get, xattr-set, lock, sync, mmap-exec,
// mount; append-only (as opposed to write). chmod/chown/chtimes/xattr-set/
// mount/lock are refused by broker/seccomp when no grant carries them; the
// rest are allowed everywhere by this layer. MAKE_CHAR, MAKE_BLOCK,
// MAKE_FIFO and MAKE_SOCK are handled but never granted: a confined
// process cannot create device nodes, fifos or socket files.
//
// Renames and links within one directory need no REFER (the kernel asks
// only for REMOVE_*/MAKE_*); across directories they need REFER on both
// sides, which ABI 1 cannot grant, so there they always fail.
var rightAccess = []struct {
	right  rights.Rights
	access AccessFS
	minABI int
}{
	{rights.Read, ll.AccessFSReadFile, 1},
	{rights.Readdir, ll.AccessFSReadDir, 1},
	{rights.Write, ll.AccessFSWriteFile, 1},
	{rights.Append, ll.AccessFSWriteFile, 1},
	{rights.Truncate, ll.AccessFSTruncate, 3},
	{rights.Exec, ll.AccessFSExecute, 1},
	{rights.Create, ll.AccessFSMakeReg, 1},
	{rights.Mkdir, ll.AccessFSMakeDir, 1},
	{rights.Unlink, ll.AccessFSRemoveFile | ll.AccessFSRemoveDir, 1},
	{rights.Symlink, ll.AccessFSMakeSym, 1},
	{rights.RenameFrom, ll.AccessFSRefer | ll.AccessFSRemoveFile | ll.AccessFSRemoveDir, 2},
	{rights.RenameTo, ll.AccessFSRefer | ll.AccessFSMakeReg | ll.AccessFSMakeDir | ll.AccessFSMakeSym, 2},
	{rights.LinkFrom, ll.AccessFSRefer, 2},
	{rights.LinkTo, ll.AccessFSRefer | ll.AccessFSMakeReg | ll.AccessFSMakeSym, 2},
	{rights.Ioctl, ll.AccessFSIoctlDev, 5},
	{rights.Connect, ll.AccessFSResolveUnix, 9},
}

// fileAccess are the bits the kernel accepts on a rule for a non-directory;
// the others only make sense on a directory and are refused (EINVAL) there.
const fileAccess AccessFS = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile |
	ll.AccessFSTruncate | ll.AccessFSIoctlDev | ll.AccessFSResolveUnix

// Expressible is every right that maps to some Landlock access.
var Expressible = func() rights.Rights {
	var r rights.Rights
	for _, e := range rightAccess {
		r |= e.right
	}
	return r
}()

// AccessFor returns the Landlock access that rights r allow on an object:
// a directory (isDir) or anything else. Rights Landlock cannot express add
// nothing.
func AccessFor(r rights.Rights, isDir bool) AccessFS {
	var a AccessFS
	for _, e := range rightAccess {
		if r.Has(e.right) {
			a |= e.access
		}
	}
	if !isDir {
		a &= fileAccess
	}
	return a
}

// accessForGrant is the access of a rule for the grant's path. Landlock
// rules are hierarchical: a rule on a directory also covers everything
// beneath it, and cannot tell the directory from its subdirectories. So a
// directory's rule takes
//   - its file access (read, write, exec, truncate, ioctl) from Inherit,
//     the ceiling for files opened through it, and
//   - its directory access (readdir, make, remove, refer) from
//     Base ∪ Inherit: Base for the directory itself, Inherit for the
//     subdirectories opened through it.
//
// The union is wider than the broker's exact rule for some subdirectory
// operations; the kernel layer is a backstop and must never refuse what
// the broker grants, so it errs on that side, and the docs say so.
func accessForGrant(p rights.Pair, isDir bool) AccessFS {
	if !isDir {
		return AccessFor(p.Base, false)
	}
	return AccessFor(p.Inherit, false) | AccessFor(p.Base|p.Inherit, true)&^fileAccess
}

// handledAt is every access bit the kernel at ABI abi knows, less
// RESOLVE_UNIX before ABI 9.
func handledAt(abi int) AccessFS {
	var a AccessFS
	switch {
	case abi >= 9:
		a = 1<<17 - 1
	case abi >= 5:
		a = 1<<16 - 1
	case abi >= 3:
		a = 1<<15 - 1
	case abi == 2:
		a = 1<<14 - 1
	case abi == 1:
		a = 1<<13 - 1
	}
	return a
}
