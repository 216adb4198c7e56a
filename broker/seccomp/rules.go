package seccomp

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// denied is what a refused syscall returns: the errno Landlock and the BPF
// LSM use too, so a program sees the same failure whichever layer stops it.
var denied = Errno(unix.EPERM)

// mountFamily is every syscall that creates, moves, reconfigures or removes a
// mount. open_tree(OPEN_TREE_CLONE) + move_mount bind-mounts an fd without
// mount(2), and open_tree_attr (6.15) does the same with new attributes, so
// denying mount(2) alone would not stop a bind mount.
var mountFamily = []string{
	"mount", "umount", "umount2", "pivot_root",
	"open_tree", "open_tree_attr", "move_mount",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
}

// DenyMountFamily refuses every mount-changing syscall with EPERM.
func DenyMountFamily() Rule {
	return Rule{Syscalls: known(mountFamily), Action: denied}
}

// rightSyscalls maps each right that seccomp can enforce to the syscalls that
// need it, derived from the vfsops operation table (ruleNeed). A syscall is refused only when the process holds NONE of the
// rights listed for it anywhere, since seccomp sees numbers, not paths: the
// per-path decision belongs to Landlock and the broker.
//
// | right        | syscalls refused when no grant carries it                    |
// |--------------|--------------------------------------------------------------|
// | mount        | DenyMountFamily                                              |
// | chmod        | chmod fchmod fchmodat fchmodat2                              |
// | chown        | chown lchown fchown fchownat                                 |
// | chtimes      | utime utimes futimesat utimensat                             |
// | xattr-set    | setxattr lsetxattr fsetxattr setxattrat, remove* likewise    |
// | xattr-get    | getxattr lgetxattr fgetxattr getxattrat, list* likewise      |
// | truncate     | truncate ftruncate                                           |
// | create       | mknod mknodat                                                |
// | mkdir        | mkdir mkdirat                                                |
// | unlink       | unlink unlinkat rmdir                                        |
// | symlink      | symlink symlinkat                                            |
// | link-from/-to| link linkat (refused unless both rights are held)           |
// | rename-*     | rename renameat renameat2 (refused unless both are held)     |
// | lock         | flock                                                        |
//
// Left alone on purpose: open/openat/openat2, stat*, readlink*, getdents,
// execve, mmap, ioctl, fcntl, fsync. The Go runtime, the dynamic loader and
// libc need them to start at all; their per-object checks are Landlock's
// (read/write/exec/truncate/ioctl on devices) and the broker's. (capfd run
// notifies a few ioctl and fcntl values by argument, with Rule.Args.)
var rightSyscalls = func() []syscallRights {
	rows := []struct {
		ops      []vfsops.Request
		syscalls []string
	}{
		{reqs(vfsops.OpBindMount), mountFamily},
		{reqs(vfsops.OpChmod, vfsops.OpFchmod), []string{"chmod", "fchmod", "fchmodat", "fchmodat2"}},
		{reqs(vfsops.OpChown, vfsops.OpFchown), []string{"chown", "lchown", "fchown", "fchownat"}},
		{reqs(vfsops.OpChtimes, vfsops.OpFutimes), []string{"utime", "utimes", "futimesat", "utimensat"}},
		{reqs(vfsops.OpXattrSet, vfsops.OpXattrRemove), []string{
			"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
			"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
		}},
		{reqs(vfsops.OpXattrGet, vfsops.OpXattrList), []string{
			"getxattr", "lgetxattr", "fgetxattr", "getxattrat",
			"listxattr", "llistxattr", "flistxattr", "listxattrat",
		}},
		{reqs(vfsops.OpTruncate, vfsops.OpFtruncate), []string{"truncate", "ftruncate"}},
		// mknod makes an entry as an O_CREAT open does.
		{[]vfsops.Request{{Op: vfsops.OpOpen, Flags: unix.O_CREAT | unix.O_PATH}}, []string{"mknod", "mknodat"}},
		{reqs(vfsops.OpMkdir), []string{"mkdir", "mkdirat"}},
		{reqs(vfsops.OpUnlink, vfsops.OpRmdir), []string{"unlink", "unlinkat", "rmdir"}},
		{reqs(vfsops.OpSymlink), []string{"symlink", "symlinkat"}},
		{reqs(vfsops.OpLink), []string{"link", "linkat"}},
		{reqs(vfsops.OpRename), []string{"rename", "renameat", "renameat2"}},
		{reqs(vfsops.OpLock), []string{"flock"}},
	}
	out := make([]syscallRights, len(rows))
	for i, row := range rows {
		out[i] = syscallRights{need: ruleNeed(row.ops), syscalls: row.syscalls}
	}
	return out
}()

// syscallRights is a row of rightSyscalls: syscalls refused unless every
// right in need is held by some grant.
type syscallRights struct {
	need     rights.Rights
	syscalls []string
}

func reqs(ops ...vfsops.Op) []vfsops.Request {
	out := make([]vfsops.Request, len(ops))
	for i, op := range ops {
		out[i] = vfsops.Request{Op: op}
	}
	return out
}

// ruleNeed derives a row's rights from the vfsops table: what every one of
// its operations needs, on any operand, less lookup, which nearly every
// program holds and no syscall here is the only user of. The rows'
// operations are alternatives (chmod or fchmod), and each needs the same
// right, so it is the intersection.
func ruleNeed(ops []vfsops.Request) rights.Rights {
	need := rights.All
	for _, req := range ops {
		var r rights.Rights
		for _, n := range req.Needs() {
			r |= n.Rights
		}
		need &= r
	}
	return need.Without(rights.Lookup)
}

// RulesFor returns EPERM rules for the syscalls that r, the union of every
// right the process holds on any object, does not allow. See the table on
// rightSyscalls. Syscalls this architecture lacks are left out.
func RulesFor(r rights.Rights) []Rule {
	var refused []string
	for _, entry := range rightSyscalls {
		if !r.Has(entry.need) {
			refused = append(refused, entry.syscalls...)
		}
	}
	refused = known(refused)
	if len(refused) == 0 {
		return nil
	}
	return []Rule{{Syscalls: refused, Action: denied}}
}

// known keeps the names of syscalls the running architecture has.
func known(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if Known(n) {
			out = append(out, n)
		}
	}
	return out
}
