package vfsops

import (
	"golang.org/x/sys/unix"
)

// BindMount bind-mounts the file or directory open on fd onto targetpath
// beneath targetdirfd: open_tree(fd, "", OPEN_TREE_CLONE|AT_EMPTY_PATH)
// clones exactly the object fd refers to (no path is re-resolved), and
// move_mount attaches it to the target, itself resolved beneath
// targetdirfd. Needs CAP_SYS_ADMIN in the mount namespace's owner.
func BindMount(fd int, targetdirfd int, targetpath string) error {
	// The target first: an escaping target is reported as ErrEscape
	// whatever the caller's privilege.
	target, err := openBeneath(targetdirfd, targetpath, unix.O_PATH|unix.O_NOFOLLOW, 0, 0)
	if err != nil {
		return pathError("bindmount", targetpath, err)
	}
	defer unix.Close(target)
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return pathError("bindmount", targetpath, err)
	}
	defer unix.Close(tree)
	err = unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	return pathError("bindmount", targetpath, err)
}
