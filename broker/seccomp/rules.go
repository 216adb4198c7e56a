package seccomp

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
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
// need it. A syscall is refused only when the process holds NONE of the
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
var rightSyscalls = []struct {
	need     rights.Rights // all of these rights are needed for the syscalls
	syscalls []string
}{
	{rights.Mount, mountFamily},
	{rights.Chmod, []string{"chmod", "fchmod", "fchmodat", "fchmodat2"}},
	{rights.Chown, []string{"chown", "lchown", "fchown", "fchownat"}},
	{rights.Chtimes, []string{"utime", "utimes", "futimesat", "utimensat"}},
	{rights.XattrSet, []string{
		"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
		"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
	}},
	{rights.XattrGet, []string{
		"getxattr", "lgetxattr", "fgetxattr", "getxattrat",
		"listxattr", "llistxattr", "flistxattr", "listxattrat",
	}},
	{rights.Truncate, []string{"truncate", "ftruncate"}},
	{rights.Create, []string{"mknod", "mknodat"}},
	{rights.Mkdir, []string{"mkdir", "mkdirat"}},
	{rights.Unlink, []string{"unlink", "unlinkat", "rmdir"}},
	{rights.Symlink, []string{"symlink", "symlinkat"}},
	{rights.LinkFrom | rights.LinkTo, []string{"link", "linkat"}},
	{rights.RenameFrom | rights.RenameTo, []string{"rename", "renameat", "renameat2"}},
	{rights.Lock, []string{"flock"}},
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
