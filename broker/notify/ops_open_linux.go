package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// open(path, flags, mode)
func sysOpen(c *call) result {
	return c.open(unix.AT_FDCWD, c.arg(0), int(int32(c.arg(1))), uint32(c.arg(2)), 0, "open")
}

// openat(dirfd, path, flags, mode)
func sysOpenat(c *call) result {
	return c.open(c.argFd(0), c.arg(1), int(int32(c.arg(2))), uint32(c.arg(3)), 0, "open")
}

// creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
func sysCreat(c *call) result {
	return c.open(unix.AT_FDCWD, c.arg(0), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(c.arg(1)), 0, "open")
}

// openHowSizeVer0 is OPEN_HOW_SIZE_VER0, the smallest struct open_how.
const openHowSizeVer0 = 24

// knownResolveFlags are the RESOLVE_* flags this supervisor understands.
const knownResolveFlags = unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_BENEATH | unix.RESOLVE_IN_ROOT | resolveCached

// resolveCached is RESOLVE_CACHED (Linux 5.12), missing from x/sys.
const resolveCached = 0x20

// openat2(dirfd, path, how, size): the struct is read and checked the way
// the kernel's copy_struct_from_user does (too small: EINVAL; larger than
// we know: the extra bytes must be zero, else E2BIG).
func sysOpenat2(c *call) result {
	size := c.arg(3)
	if size < openHowSizeVer0 {
		return fail(unix.EINVAL)
	}
	if size > pageSize {
		return fail(unix.E2BIG)
	}
	raw := make([]byte, size)
	if errno := readMemory(c.pid(), c.arg(2), raw); errno != 0 {
		return fail(errno)
	}
	how, errno := decodeOpenHow(raw)
	if errno != 0 {
		return fail(errno)
	}
	flags := int(int32(how.Flags))
	return c.open(c.argFd(0), c.arg(1), flags, uint32(how.Mode), how.Resolve, "open")
}

// decodeOpenHow checks a struct open_how as openat2(2) does: at least
// OPEN_HOW_SIZE_VER0 bytes, any bytes beyond the fields we know zero
// (E2BIG otherwise), flags within 32 bits, known resolve flags, a mode only
// with O_CREAT or O_TMPFILE.
func decodeOpenHow(raw []byte) (unix.OpenHow, unix.Errno) {
	if len(raw) < openHowSizeVer0 {
		return unix.OpenHow{}, unix.EINVAL
	}
	if len(raw) > pageSize {
		return unix.OpenHow{}, unix.E2BIG
	}
	for _, b := range raw[openHowSizeVer0:] {
		if b != 0 {
			return unix.OpenHow{}, unix.E2BIG
		}
	}
	how := unix.OpenHow{
		Flags:   binary.NativeEndian.Uint64(raw[0:]),
		Mode:    binary.NativeEndian.Uint64(raw[8:]),
		Resolve: binary.NativeEndian.Uint64(raw[16:]),
	}
	switch {
	case how.Flags>>32 != 0,
		how.Resolve&^knownResolveFlags != 0,
		how.Mode&^0o7777 != 0,
		how.Resolve&unix.RESOLVE_BENEATH != 0 && how.Resolve&unix.RESOLVE_IN_ROOT != 0:
		return unix.OpenHow{}, unix.EINVAL
	}
	flags := int(int32(how.Flags))
	if how.Mode != 0 && flags&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
		return unix.OpenHow{}, unix.EINVAL
	}
	return how, 0
}

// open answers every open variant: the file is opened here, beneath the
// matched grant, and the descriptor is installed in the task.
//
// RESOLVE_NO_MAGICLINKS is always in force; RESOLVE_NO_SYMLINKS and
// RESOLVE_NO_XDEV are honoured. RESOLVE_BENEATH and RESOLVE_IN_ROOT (whose
// boundary is the task's dirfd, not a grant) are answered by resolving the
// dirfd's directory beneath its grant first and the path beneath that.
// RESOLVE_CACHED is treated as satisfied: a full lookup is a valid answer.
func (c *call) open(dirfd int32, addr uint64, flags int, mode uint32, resolve uint64, op string) result {
	p, errno := c.readPath(addr, &c.path)
	if errno != 0 {
		return fail(errno)
	}
	return c.openPath(dirfd, p, flags, mode, resolve, op)
}

// openByName opens the existing object at the absolute path abs, as an
// open(2) of that name would.
func (c *call) openByName(abs string, flags int, op string) result {
	return c.openPath(unix.AT_FDCWD, abs, flags&^(unix.O_CREAT|unix.O_EXCL), 0, 0, op)
}

// openPath is open for a path already read.
func (c *call) openPath(dirfd int32, p string, flags int, mode uint32, resolve uint64, op string) result {
	if n, ok := descriptorName(p); ok && resolve == 0 {
		return c.reopenDescriptor(n, p, flags, op)
	}
	how := resolveHow
	if resolve&unix.RESOLVE_NO_SYMLINKS != 0 {
		how |= vfsops.NoSymlinks
	}
	if resolve&unix.RESOLVE_NO_XDEV != 0 {
		how |= vfsops.NoXDev
	}
	if resolve&(unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT) != 0 {
		return c.openAnchored(dirfd, p, flags, mode, resolve, how, op)
	}
	// A read-only open of an existing file changes nothing: its one
	// effect is the descriptor, and ADDFD installs it only if the
	// notification is still pending, atomically. So if the pid was
	// recycled while we read its memory, the descriptor is simply never
	// installed, and the ID_VALID round trip can be skipped. Every open
	// that may create, truncate or write keeps the check before acting.
	c.deferValid = flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC|unix.O_TMPFILE&^unix.O_DIRECTORY) == unix.O_RDONLY
	l, errno := c.locate(dirfd, p)
	if errno != 0 {
		return resultFor(errno)
	}
	if pp, inView := c.procOf(l.abs); inView && l.g == nil {
		// The /proc view (procview_linux.go).
		if fd, ok, errno := c.procOpen(pp, flags); errno != 0 {
			return resultFor(errno)
		} else if ok {
			return installFd(fd, flags&unix.O_CLOEXEC != 0)
		}
	}
	if flags&unix.O_PATH != 0 {
		if dir, ok := c.skeletonDir(l); ok {
			// A directory of the skeleton, which O_PATH may reach as
			// stat does: a stand-in, for it may not be listed.
			return c.standIn(op, -1, dir, true, flags&unix.O_CLOEXEC != 0)
		}
	}
	file, dir, alt := openNeeds(flags)
	// O_EXCL with O_CREAT never follows a final symlink (it fails).
	follow := flags&unix.O_NOFOLLOW == 0 && flags&(unix.O_CREAT|unix.O_EXCL) != unix.O_CREAT|unix.O_EXCL
	tmpfile := flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0
	if tmpfile {
		l = tmpfileEntry(l)
	}
	if errno := c.check(&l, need{op: op, object: file, objectAlt: alt, parent: dir, follow: follow}); errno != 0 {
		return fail(errno)
	}
	if tmpfile {
		l = tmpfileDir(l)
	}
	if l.g.fd < 0 {
		return fail(unix.ENOENT) // a missing optional grant
	}
	if flags&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		mode &^= c.umask()
	}
	if how&vfsops.NoSymlinks != 0 {
		// RESOLVE_NO_SYMLINKS: no symlink is followed, out of the grant
		// or not.
		r := c.openIn(l, l.g.fd, l.rest, flags, mode, how|l.how(), op)
		if r.escaped {
			c.escaped(op, l)
		}
		return r
	}
	var r result
	l, errno, err := c.resolveOut(l, need{op: op, object: file, objectAlt: alt, parent: dir, follow: follow}, func(at location) error {
		r = c.openIn(at, at.g.fd, at.rest, flags, mode, how|at.how(), op)
		if r.escaped {
			return vfsops.ErrEscape
		}
		return nil
	})
	switch {
	case errno != 0:
		return fail(errno)
	case err != nil:
		c.escaped(op, l)
		return fail(unix.EACCES)
	}
	return r
}

// openAnchored serves openat2 with RESOLVE_BENEATH or RESOLVE_IN_ROOT: the
// boundary is the task's dirfd, not a grant. The dirfd's directory is
// opened beneath its grant, and the path resolved beneath that with the
// requested rule, so the kernel enforces the boundary. Rights are those of
// the dirfd's grant at the path's lexical position, which the boundary
// makes exact: it cannot climb above the dirfd.
func (c *call) openAnchored(dirfd int32, p string, flags int, mode uint32, resolve uint64, how vfsops.Resolve, op string) result {
	if p == "" {
		return fail(unix.ENOENT)
	}
	within := path.Clean(p)
	if resolve&unix.RESOLVE_IN_ROOT != 0 {
		how |= vfsops.InRoot
		within = strings.TrimPrefix(path.Clean("/"+p), "/")
		if within == "" {
			within = "."
		}
	} else if path.IsAbs(within) || within == ".." || strings.HasPrefix(within, "../") {
		return fail(unix.EXDEV) // what the kernel answers for an escape
	}
	anchor, errno := c.locate(dirfd, ".")
	if errno != 0 {
		return resultFor(errno)
	}
	l := anchor
	l.abs = path.Join(anchor.abs, within)
	if anchor.g != nil {
		l.rest = path.Join(anchor.rest, within)
	}
	file, dir, alt := openNeeds(flags)
	check := l
	if flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		check = tmpfileEntry(l)
	}
	if errno := c.check(&check, need{op: op, object: file, objectAlt: alt, parent: dir, anchored: true}); errno != 0 {
		return fail(errno)
	}
	if anchor.g.fd < 0 || !anchor.g.isDir {
		return fail(unix.ENOTDIR)
	}
	anchorFd := -1
	err := c.asCaller(func() (err error) {
		anchorFd, err = vfsops.OpenBeneath(anchor.g.fd, anchor.rest, unix.O_PATH|unix.O_DIRECTORY, 0, how&^vfsops.InRoot)
		return err
	})
	if err != nil {
		return fail(c.errnoOf(op, anchor, err))
	}
	defer unix.Close(anchorFd)
	if flags&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		mode &^= c.umask()
	}
	if c.s.grants.pinNeeded(anchor.g) && flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
		return c.openAnchoredPinned(l, anchorFd, p, flags, mode, how, op)
	}
	r := c.openIn(l, anchorFd, p, flags, mode, how, op)
	if r.escaped {
		c.escaped(op, l)
	}
	return r
}

// tmpfileEntry is the location of the file an O_TMPFILE open of l makes:
// an unnamed entry of the directory l names. Its directory gets the
// entry (create), and the file lies beneath it (vfsops.Request: OnDir is
// the directory named). The name is never looked up: pinning finds it
// missing and places its directory.
func tmpfileEntry(l location) location {
	if l.g == nil {
		return l
	}
	if l.rest == "." {
		l.rest = tmpfileName
	} else {
		l.rest = strings.TrimSuffix(l.rest, "/") + "/" + tmpfileName
	}
	return l
}

// tmpfileDir turns tmpfileEntry's location back into its directory's
// (the pinned one when pinned), for the open itself.
func tmpfileDir(l location) location {
	if l.g != nil && strings.HasSuffix(l.rest, tmpfileName) {
		l.rest = strings.TrimSuffix(l.rest, tmpfileName) + "."
	}
	return l
}

// tmpfileName stands for O_TMPFILE's unnamed file in a location: longer
// than NAME_MAX, so no entry can have it (a lookup fails ENAMETOOLONG),
// yet a valid string for the syscalls that place its directory.
var tmpfileName = strings.Repeat("t", unix.NAME_MAX+1)

// openNeeds is what an open with flags needs of its object and directory
// before the object's type is known, and alt, for a read-mode open without
// O_DIRECTORY, what it needs instead if the object is a directory
// (readdir, not read: vfsops.OpenRightsOn).
func openNeeds(flags int) (file, dir, alt rights.Rights) {
	file, dir = vfsops.OpenRights(flags)
	if (vfsops.Request{Op: vfsops.OpOpen, Flags: flags}).DependsOnType() {
		alt, _ = vfsops.OpenRightsOn(flags, true)
	}
	return file, dir, alt
}

// openTyped checks an open descriptor against what its type needs when
// that was not known before (openNeeds' alt): a reader of files may not
// list a directory by opening it O_RDONLY, nor a lister read a file.
func (c *call) openTyped(l location, fd, flags int, op string) unix.Errno {
	_, _, alt := openNeeds(flags)
	if alt == 0 || l.g == nil {
		return 0
	}
	object, _ := l.rightsAt()
	if object.Has(rights.Read | rights.Readdir) {
		return 0
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return unix.EIO
	}
	need, _ := vfsops.OpenRightsOn(flags, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if missing := object.Missing(need); missing != 0 {
		c.refuse(op, l.abs, missing, l.g.describe())
		return unix.EACCES
	}
	return 0
}

// openIn opens rest beneath dirfd and returns the descriptor to install.
//
// A FIFO's open blocks until the other end is opened, which may be by
// another task of the same program waiting for this supervisor, or never.
// Answering it on the serving thread would stall every other request, and
// a thread per waiting open is a resource the program could exhaust (70
// blocked opens once filled the 64-worker pool and hung the sandbox). So
// the open is first tried with O_NONBLOCK, which never blocks, and then:
//
//   - not a FIFO: O_NONBLOCK is cleared again and the fd installed;
//   - a FIFO writer that succeeded: a reader exists, the blocking open
//     would not have waited either: same;
//   - a FIFO writer that failed with ENXIO (no reader yet), or a FIFO
//     reader: the wait is handed to a fifoWait, which holds no thread and
//     no worker (fifo_linux.go).
func (c *call) openIn(l location, dirfd int, rest string, flags int, mode uint32, how vfsops.Resolve, op string) result {
	cloexec := flags&unix.O_CLOEXEC != 0
	probe := flags&(unix.O_NONBLOCK|unix.O_PATH) == 0
	tryFlags := flags
	if probe {
		tryFlags |= unix.O_NONBLOCK
	}
	fd, err := c.openAt(l, dirfd, rest, tryFlags, mode, how)
	if err == nil && flags&unix.O_PATH != 0 {
		return c.substitutePath(l, fd, op, cloexec)
	}
	if err != nil {
		if probe && errnoIs(err, unix.ENXIO) {
			return c.awaitReader(l, dirfd, rest, flags, mode, how, op)
		}
		if errors.Is(err, vfsops.ErrEscape) {
			// Not logged here: the caller may follow the symlink.
			return result{errno: unix.EACCES, fd: -1, escaped: true}
		}
		return fail(c.errnoOf(op, l, err))
	}
	if errno := c.openTyped(l, fd, flags, op); errno != 0 {
		unix.Close(fd)
		return fail(errno)
	}
	if probe {
		var st unix.Stat_t
		if err := fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fail(unix.EIO)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFIFO && flags&unix.O_ACCMODE == unix.O_RDONLY {
			// A waiting FIFO reader releases blocked writers: an effect,
			// so a deferred validity check is made now.
			if c.deferValid && !c.valid() {
				unix.Close(fd)
				return gone
			}
			return c.awaitWriter(l, op, fd, cloexec)
		}
		// F_SETFL sets exactly these status flags; the others are fixed
		// at open. O_ASYNC is left out: open(2) ignores it.
		if err := vfsops.SetStatusFlags(fd, flags&(unix.O_APPEND|unix.O_DIRECT|unix.O_NOATIME)); err != nil {
			unix.Close(fd)
			return fail(unix.EIO)
		}
	}
	return installFd(fd, cloexec)
}

// substitutePath answers an O_PATH open. The kernel cannot install an
// O_PATH file in another process (SECCOMP_IOCTL_NOTIF_ADDFD takes the file
// with fget(), which refuses FMODE_PATH files: EBADF), so the program gets
// the object opened O_RDONLY where that gives no more than its rights (a
// directory it may list, a regular file it may read, and the kernel lets
// it), which does everything an O_PATH descriptor does (fstat, *at
// lookups, fchdir, execveat); anything else gets a stand-in that holds
// nothing of the object (standin_linux.go).
func (c *call) substitutePath(l location, pathFd int, op string, cloexec bool) result {
	defer unix.Close(pathFd)
	var st unix.Stat_t
	if err := fstat(pathFd, &st); err != nil {
		return fail(unix.EIO)
	}
	object, _ := l.rightsAt()
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	var flags int
	switch {
	case isDir && object.Has(rights.Readdir):
		flags = unix.O_RDONLY | unix.O_DIRECTORY
	case st.Mode&unix.S_IFMT == unix.S_IFREG && object.Has(rights.Read):
		flags = unix.O_RDONLY
	default:
		return c.standIn(op, pathFd, "", isDir, cloexec)
	}
	fd := -1
	err := c.asCaller(func() (err error) {
		fd, err = vfsops.Reopen(pathFd, flags|unix.O_NONBLOCK)
		return err
	})
	if errnoIs(err, unix.EACCES) || errnoIs(err, unix.EPERM) {
		// The grant allows reading, the file's own permissions do not:
		// O_PATH needs neither.
		return c.standIn(op, pathFd, "", isDir, cloexec)
	}
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	if err := vfsops.SetStatusFlags(fd, 0); err != nil {
		unix.Close(fd)
		return fail(unix.EIO)
	}
	return installFd(fd, cloexec)
}

// standIn installs a stand-in (standin_linux.go) for the object open on
// pathFd, or, with pathFd -1, for the skeleton's directory abs.
func (c *call) standIn(op string, pathFd int, abs string, isDir, cloexec bool) result {
	if pathFd >= 0 {
		real, err := vfsops.FdPath(pathFd)
		if err != nil || !strings.HasPrefix(real, "/") || strings.HasSuffix(real, " (deleted)") {
			return fail(unix.ENOENT)
		}
		abs = real
	}
	fd, err := c.s.standins.make(abs, isDir)
	if err != nil {
		c.report(Refusal{Kind: KindNotSupported, Op: op, Path: abs, Why: fmt.Sprintf("with O_PATH: %v", err)})
		return fail(unix.EACCES)
	}
	return installFd(fd, cloexec)
}

// openAt opens the granted object itself (rest "."), or rest beneath dirfd,
// with the task's credentials (asCaller). A granted file is not a
// directory to resolve in: it is reopened through vfsops.Reopen, which
// checks it is still the same inode.
func (c *call) openAt(l location, dirfd int, rest string, flags int, mode uint32, how vfsops.Resolve) (int, error) {
	if dirfd == l.g.fd && rest == "." && !l.g.isDir {
		if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
			return -1, unix.EEXIST
		}
		flags &^= unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW
		fd := -1
		err := c.asCaller(func() (err error) {
			fd, err = vfsops.Reopen(dirfd, flags)
			return err
		})
		return fd, err
	}
	fd := -1
	err := c.asCaller(func() (err error) {
		fd, err = vfsops.OpenBeneath(dirfd, rest, flags, mode, how)
		return err
	})
	return fd, err
}
