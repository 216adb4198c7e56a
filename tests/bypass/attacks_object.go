package bypass

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attacks on rights that belong to one object, reached through another
// name (nested-grant-via-symlink) or another form of the call: a
// descriptor the program holds (append-only-fcntl-clear, chattr-readonly)
// or a syscall newer than the rules (file-setattr-sibling).

// nestedKey is the file of the nested read-only grant.
func (e *Env) nestedKey() string { return filepath.Join(e.Inner, "key.txt") }

func writeNestedViaSymlink(e *Env) error {
	fd, err := unix.Open(filepath.Join(e.Outer, "l", "key.txt"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte("pwned"), 0); err != nil {
		return err
	}
	return contentStartsWith(e.nestedKey(), "pwned")
}

// writeNestedAfterRename renames the nested grant's directory, which the
// outer grant's rename rights allow, and writes its key by the new name.
func writeNestedAfterRename(e *Env) error {
	moved := filepath.Join(e.Outer, "moved")
	if err := unix.Rename(e.Inner, moved); err != nil {
		return fmt.Errorf("the granted rename: %w", err)
	}
	fd, err := unix.Open(filepath.Join(moved, "key.txt"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte("pwned"), 0); err != nil {
		return err
	}
	return contentStartsWith(filepath.Join(moved, "key.txt"), "pwned")
}

// createViaDotdot creates outer/made by a name two levels down.
func createViaDotdot(e *Env) error {
	fd, err := unix.Open(filepath.Join(e.Outer, "sub", "up", "made"), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return exists(filepath.Join(e.Outer, "made"))
}

// appendFcntlClear opens the append-only file as its rights allow, then
// clears O_APPEND and writes at offset 0.
func appendFcntlClear(e *Env) error {
	fd, err := unix.Open(e.AppendOnly, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the granted open: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err != nil {
		return err
	}
	if _, err := unix.Pwrite(fd, []byte("pwned"), 0); err != nil {
		return err
	}
	return contentStartsWith(e.AppendOnly, "pwned")
}

// The no-dump inode flag: settable by the owner without privilege, on
// ext4 and tmpfs alike, and harmless to leave behind (unlike +a or +i,
// which would make the fixture undeletable). The rights question is the
// same for every flag: changing an attribute of a read-only object.
const fsNodumpFl = 0x40

// inodeFlags checks the fixture's filesystem takes FS_IOC_SETFLAGS.
func inodeFlags(e *Env) error {
	probe := filepath.Join(e.Root, "flags-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return err
	}
	defer os.Remove(probe)
	fd, err := unix.Open(probe, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = addInodeFlag(fd, fsNodumpFl)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) {
		return &MissingFeatureError{Feature: "inode flags (FS_IOC_SETFLAGS) on the fixture's filesystem", Err: err}
	}
	return err
}

// chattrReadonly sets the no-dump flag through the O_RDONLY descriptor the
// program was given for ro.txt.
func chattrReadonly(e *Env) error {
	if err := addInodeFlag(e.ROFd, fsNodumpFl); err != nil {
		return err
	}
	flags, err := unix.IoctlGetUint32(e.ROFd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsNodumpFl == 0 {
		return fmt.Errorf("%w: flags %#x (%v)", errNoEffect, flags, err)
	}
	return nil
}

// addInodeFlag sets flag on top of the file's flags (ext4 refuses to drop
// its extents flag from a file with data).
func addInodeFlag(fd int, flag uint32) error {
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|flag))
}

// file_getattr and file_setattr (Linux 6.17), by number: x/sys may
// predate them.
const (
	sysFileGetattr = 468
	sysFileSetattr = 469
	fsXflagNodump  = 0x80
)

// fileAttr is struct file_attr (FILE_ATTR_SIZE_VER0).
type fileAttr struct {
	Xflags     uint64
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
}

func fileAttrCall(nr uintptr, path string, fa *fileAttr) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	atFdcwd := int64(unix.AT_FDCWD)
	_, _, errno := unix.Syscall6(nr, uintptr(atFdcwd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(fa)), unsafe.Sizeof(*fa), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// fileSetattr checks the kernel has file_setattr and the fixture's
// filesystem its no-dump flag.
func fileSetattr(e *Env) error {
	probe := filepath.Join(e.Root, "fileattr-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return err
	}
	defer os.Remove(probe)
	var fa fileAttr
	err := fileAttrCall(sysFileGetattr, probe, &fa)
	if errors.Is(err, unix.ENOSYS) {
		return &MissingFeatureError{Feature: "file_getattr/file_setattr (Linux 6.17)", Err: err}
	}
	if err != nil {
		return err
	}
	fa.Xflags |= fsXflagNodump
	fa.Nextents = 0
	err = fileAttrCall(sysFileSetattr, probe, &fa)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) {
		return &MissingFeatureError{Feature: "file attributes on the fixture's filesystem", Err: err}
	}
	return err
}

// fileSetattrSibling sets the no-dump flag of the ungranted secret.
func fileSetattrSibling(e *Env) error {
	var fa fileAttr
	if err := fileAttrCall(sysFileGetattr, e.Secret, &fa); err != nil {
		return err
	}
	fa.Xflags |= fsXflagNodump
	fa.Nextents = 0
	if err := fileAttrCall(sysFileSetattr, e.Secret, &fa); err != nil {
		return err
	}
	var after fileAttr
	if err := fileAttrCall(sysFileGetattr, e.Secret, &after); err != nil || after.Xflags&fsXflagNodump == 0 {
		return fmt.Errorf("%w: xflags %#x (%v)", errNoEffect, after.Xflags, err)
	}
	return nil
}

// fchmodReadonlyFd changes the mode of ro.txt through the O_RDONLY
// descriptor the program was given: the descriptor form of chmod-readonly.
func fchmodReadonlyFd(e *Env) error {
	if err := unix.Fchmod(e.ROFd, 0o666); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(e.ROFd, &st); err != nil || st.Mode&0o777 != 0o666 {
		return fmt.Errorf("%w: mode %o (%v)", errNoEffect, st.Mode&0o777, err)
	}
	return nil
}

// memfdExecReadonly copies prog, granted read-only (no exec), into a memfd
// and executes the copy: exec limited to granted files must not be
// bypassed by moving the bytes somewhere no rule can name.
func memfdExecReadonly(e *Env) error {
	body, err := os.ReadFile(e.Prog)
	if err != nil {
		return fmt.Errorf("the granted read: %w", err)
	}
	fd, err := unix.MemfdCreate("bypass", 0) // inherited by the child below
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, body); err != nil {
		return err
	}
	return runQuiet(exec.Command(fmt.Sprintf("/proc/self/fd/%d", fd)))
}
