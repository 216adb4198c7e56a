package notify

import (
	"path"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Descriptor operations decided per object (see "Per-object descriptor
// operations" in doc.go).
//
// A descriptor carries no rights of its own: the supervisor judges an fd
// operation by the object the descriptor refers to now, found by its path
// (readlink of /proc/self/fd/N of our duplicate) and matched against the
// grants exactly as a path operation's name is, with the object's rights
// from rightsAt. The operation is then performed on the duplicate, which
// shares the task's open file description, with the task's credentials.
// Only the object's own rights are needed: its lookup was checked when the
// descriptor was opened.
//
// A refusal answers EPERM, what the seccomp layer answers when no grant
// carries the right at all and what the kernel answers a non-owner's
// fchmod: the fd forms never say EACCES.

// fdObject is what a task's descriptor refers to.
type fdObject struct {
	l      location // l.g == nil: outside every grant, or no path
	noPath bool     // pipe, socket, anonymous inode: nothing a grant can name
	gone   bool     // an unlinked file: no name to judge it by
}

// objectOf finds the object of our duplicate fd and its place among the
// grants. The path procfs reports is the kernel's own name for the object
// (no symlinks, no ".."), so it is matched by name, with two identity
// checks (place_linux.go): an object that is a grant's root has that
// grant's base rights (also through a hard link or after a move), and a
// name that says "a grant's root" for an object that is not that root is
// outside it. With nested grants, which can be moved, the object is placed
// by identity: from its directory (for a file, the directory its name says,
// checked to hold it) up ".." to the nearest grant root; beneath a root an
// object has the grant's inherit rights.
func (c *call) objectOf(fd int) fdObject {
	p, err := vfsops.FdPath(fd)
	switch {
	case err != nil || !strings.HasPrefix(p, "/"):
		return fdObject{noPath: true}
	case strings.HasSuffix(p, " (deleted)"):
		return fdObject{l: location{abs: p}, gone: true}
	}
	t := c.s.grants
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return fdObject{l: location{abs: p}}
	}
	id := fileID{Dev: st.Dev, Ino: st.Ino}
	if g, isRoot := t.roots[id]; isRoot {
		return fdObject{l: location{abs: p, g: g, rest: "."}}
	}
	g, rest := t.match(p)
	if g == nil || rest == "." {
		// Outside every grant, or at a grant's name but not its root
		// (replaced since the grant was opened): outside it.
		return fdObject{l: location{abs: p}}
	}
	if !t.nested {
		return fdObject{l: location{abs: p, g: g, rest: rest}}
	}
	dir := fd
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		parent, err := vfsops.OpenDirAmbient(path.Dir(p))
		if err != nil {
			return fdObject{l: location{abs: p}}
		}
		defer unix.Close(parent)
		var in unix.Stat_t
		if err := statEntry(parent, path.Base(p), &in); err != nil || (fileID{Dev: in.Dev, Ino: in.Ino}) != id {
			return fdObject{l: location{abs: p}} // renamed meanwhile: no place to judge by
		}
		dir = parent
	}
	g, _, err = t.placeOf(dir)
	if err != nil || g == nil {
		return fdObject{l: location{abs: p}}
	}
	// Beneath g's root: rightsAt gives inherit rights for any rest that
	// is not ".".
	return fdObject{l: location{abs: p, g: g, rest: path.Base(p)}}
}

// objectRights are the rights the grants give the object, None outside
// every grant.
func (o fdObject) objectRights() rights.Rights {
	if o.l.g == nil {
		return rights.None
	}
	r, _ := o.l.rightsAt()
	return r
}

// checkObject refuses an operation on the object of fd unless it lies in a
// grant whose rights for it hold need, and logs the refusal.
func (c *call) checkObject(fd int, op string, need rights.Rights) unix.Errno {
	return c.checkObjectOf(c.objectOf(fd), op, need)
}

// checkObjectOf is checkObject for an object already found.
func (c *call) checkObjectOf(o fdObject, op string, need rights.Rights) unix.Errno {
	missing := o.objectRights().Missing(need)
	if !o.noPath && !o.gone && (missing != 0 || o.l.g != nil && o.l.g.Learn) {
		c.s.learn(Need{Path: o.l.abs, Object: need, Refused: missing != 0})
	}
	if missing != 0 {
		switch {
		case o.noPath:
			c.refuse(op, "fd "+strconv.Itoa(int(c.argFd(0))), missing, "a descriptor of no file in any grant")
		case o.l.g == nil:
			c.refuse(op, o.l.abs, missing, "outside every grant")
		default:
			c.refuse(op, o.l.abs, missing, o.l.g.describe())
		}
		return unix.EPERM
	}
	return 0
}

// checkData is checkObject for the operations that change a writable
// descriptor's bytes or how it writes them (ftruncate, fallocate beyond
// KEEP_SIZE, clearing O_APPEND). The descriptor was opened writable, so
// the kernel's own rule stands for objects no grant names: descriptors the
// program inherited (the launcher's `> out`), pipes and sockets, and
// unlinked files with no link left (memfd, O_TMPFILE), which nobody else
// can reach. Within a grant the object's rights decide; an unlinked file
// still linked elsewhere has no name to judge it by and is refused.
func (c *call) checkData(fd int, op string, need rights.Rights) unix.Errno {
	o := c.objectOf(fd)
	switch {
	case o.gone:
		var st unix.Stat_t
		if err := fstat(fd, &st); err == nil && st.Nlink == 0 {
			return 0
		}
		c.refuse(op, o.l.abs, need, "an unlinked file linked elsewhere")
		return unix.EPERM
	case o.l.g == nil:
		return 0
	}
	if missing := o.objectRights().Missing(need); missing != 0 {
		c.refuse(op, o.l.abs, missing, o.l.g.describe())
		return unix.EPERM
	}
	return 0
}

// withTaskFd duplicates the task's descriptor argument 0, checks need on
// its object and runs op on the duplicate with the task's credentials.
func (c *call) withTaskFd(op string, need rights.Rights, do func(fd int) error) result {
	return c.withTaskFdChecked(op, need, c.checkObject, do)
}

func (c *call) withTaskFdChecked(op string, need rights.Rights, check func(int, string, rights.Rights) unix.Errno, do func(fd int) error) result {
	fd, errno := c.taskFd(c.argFd(0))
	if errno != 0 {
		return resultFor(errno)
	}
	defer unix.Close(fd)
	if _, ok := c.s.standins.of(fd); ok {
		return fail(unix.EBADF) // an O_PATH descriptor's answer
	}
	if errno := check(fd, op, need); errno != 0 {
		return fail(errno)
	}
	return c.fdResult(c.asCaller(func() error { return do(fd) }))
}

func (c *call) fdResult(err error) result {
	if err == nil {
		return ok(0)
	}
	if errno, isErrno := err.(unix.Errno); isErrno {
		return resultFor(errno)
	}
	return c.errResult("", location{}, err)
}

// fchmod(fd, mode)
func sysFchmod(c *call) result {
	mode := uint32(c.arg(1)) & 0o7777
	return c.withTaskFd("chmod", rights.Chmod, func(fd int) error { return vfsops.Fchmod(fd, mode) })
}

// fchown(fd, uid, gid)
func sysFchown(c *call) result {
	uid, gid := int(int32(c.arg(1))), int(int32(c.arg(2)))
	check := func(fd int, op string, _ rights.Rights) unix.Errno {
		o := c.objectOf(fd)
		need := rights.Chown
		if !o.objectRights().Has(rights.Chown) {
			need = chownNeed(fd, uid, gid, vfsops.OpFchown, vfsops.OnHandle)
		}
		return c.checkObjectOf(o, op, need)
	}
	return c.withTaskFdChecked("chown", rights.Chown, check, func(fd int) error { return vfsops.NativeFchown(fd, uid, gid) })
}

// chownNeed is what a chown of the object open on fd to uid and gid needs
// (on operand) of an object without chown: Chown, or Chmod if it keeps
// the owner and group (vfsops.Request.KeepsOwner), which only the
// object's own ids tell. They are read from the descriptor the call then
// acts on.
func chownNeed(fd, uid, gid int, op vfsops.Op, operand vfsops.Operand) rights.Rights {
	var st unix.Stat_t
	keeps := fstat(fd, &st) == nil && vfsops.KeepsOwner(uid, gid, st.Uid, st.Gid)
	return vfsops.Request{Op: op, KeepsOwner: keeps}.On(operand)
}

// ftruncate(fd, length): a writable descriptor was checked for write or
// append when it was opened, not for truncate.
func sysFtruncate(c *call) result {
	length := int64(c.arg(1))
	return c.withTaskFdChecked("truncate", rights.Truncate, c.checkData, func(fd int) error { return vfsops.Ftruncate(fd, length) })
}

// xattrNameMax and xattrSizeMax are the kernel's limits (XATTR_NAME_MAX,
// XATTR_SIZE_MAX), checked before the rights as the kernel checks them
// before the inode.
const (
	xattrNameMax = 255
	xattrSizeMax = 1 << 16
)

// readXattrName copies the xattr name at addr.
func (c *call) readXattrName(addr uint64) (string, unix.Errno) {
	name, errno := c.readPath(addr, &c.path)
	switch {
	case errno == unix.ENAMETOOLONG || errno == 0 && len(name) > xattrNameMax:
		return "", unix.ERANGE
	case errno != 0:
		return "", errno
	case name == "":
		return "", unix.ERANGE
	}
	return name, 0
}

// fsetxattr(fd, name, value, size, flags)
func sysFsetxattr(c *call) result {
	nameAddr, valueAddr, size, flags := c.arg(1), c.arg(2), c.arg(3), int(int32(c.arg(4)))
	if flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return fail(unix.EINVAL)
	}
	name, errno := c.readXattrName(nameAddr)
	if errno != 0 {
		return fail(errno)
	}
	if size > xattrSizeMax {
		return fail(unix.E2BIG)
	}
	value := make([]byte, size)
	if size > 0 {
		if errno := readMemory(c.pid(), valueAddr, value); errno != 0 {
			return fail(errno)
		}
	}
	// What was read came from the notifying task (taskFd checks ID_VALID
	// when it opens a pidfd; a cached one is bound to the task).
	return c.withTaskFd("setxattr", rights.XattrSet, func(fd int) error {
		return vfsops.NativeFsetxattr(fd, name, value, flags)
	})
}

// fremovexattr(fd, name)
func sysFremovexattr(c *call) result {
	name, errno := c.readXattrName(c.arg(1))
	if errno != 0 {
		return fail(errno)
	}
	return c.withTaskFd("removexattr", rights.XattrSet, func(fd int) error {
		return vfsops.NativeFremovexattr(fd, name)
	})
}

// The ioctls that change an inode's attributes (chattr's flags:
// append-only, immutable, no-atime, ...; the fsxattr of XFS and
// file_setattr), notified by request number only (attrIoctls). They need
// xattr-set on the object: like setxattr they change the object's
// metadata, not its bytes, and rw carries xattr-set where ro and rx do
// not, as for chmod. (The ioctl right is the "no access, ioctl only" open
// of devices; a file's owner sets these on any descriptor, read-only ones
// included, which is the hole this closes.)
const (
	fsIocSetflags   = 0x40086602 // _IOW('f', 2, long)
	fsIoc32Setflags = 0x40046602 // _IOW('f', 2, int): the compat number, answered ENOTTY natively by most
	fsIocFssetxattr = 0x401c5820 // _IOW('X', 32, struct fsxattr)
)

// attrIoctls are the request numbers the filter notifies, with the size of
// the argument the kernel reads: an int for the flags (even through the
// "long" number, get_user(int)), struct fsxattr (28 bytes).
var attrIoctls = map[uint32]int{
	fsIocSetflags:   4,
	fsIoc32Setflags: 4,
	fsIocFssetxattr: 28,
}

// ioctl(fd, request, argp) for the requests in attrIoctls.
func sysIoctl(c *call) result {
	req := uint32(c.arg(1)) // unsigned int cmd
	size, served := attrIoctls[req]
	if !served {
		// The filter notifies no other request.
		return fail(unix.ENOSYS)
	}
	var buf [32]byte
	if errno := readMemory(c.pid(), c.arg(2), buf[:size]); errno != 0 {
		return fail(errno)
	}
	return c.withTaskFd("setflags", rights.XattrSet, func(fd int) error {
		return ioctlPtr(fd, uintptr(req), unsafe.Pointer(&buf[0]))
	})
}

// fcntl(fd, F_SETFL, flags), notified when flags lack O_APPEND and some
// grant is append-only. O_APPEND is what makes a descriptor opened through
// append-only rights append-only: clearing it needs write on the object,
// and is refused with EPERM, the kernel's answer for an append-only inode.
// Objects no grant names keep the kernel's rule (checkData).
func sysFcntl(c *call) result {
	if uint32(c.arg(1)) != unix.F_SETFL {
		return fail(unix.ENOSYS) // the filter notifies no other command
	}
	flags := int(uint32(c.arg(2)))
	fd, errno := c.taskFd(c.argFd(0))
	if errno != 0 {
		return resultFor(errno)
	}
	defer unix.Close(fd)
	cur, err := vfsops.StatusFlags(fd)
	if err != nil {
		return c.fdResult(err)
	}
	writable := cur&unix.O_ACCMODE == unix.O_WRONLY || cur&unix.O_ACCMODE == unix.O_RDWR
	if cur&unix.O_APPEND != 0 && flags&unix.O_APPEND == 0 && writable {
		if errno := c.checkData(fd, "clear O_APPEND", rights.Write); errno != 0 {
			return fail(errno)
		}
	}
	// Status flags live in the open file description the duplicate
	// shares with the task's descriptor. O_NOATIME is checked against the
	// caller's fsuid, so as the caller.
	return c.fdResult(c.asCaller(func() error {
		return vfsops.SetStatusFlags(fd, flags)
	}))
}

// fallocate(fd, mode, offset, len), notified for modes that change bytes
// already written (punching, zeroing, collapsing, inserting: anything
// beyond FALLOC_FL_KEEP_SIZE) when some grant is append-only: those need
// write on the object, which append-only rights lack (checkData).
func sysFallocate(c *call) result {
	mode := uint32(c.arg(1))
	off, length := int64(c.arg(2)), int64(c.arg(3))
	fd, errno := c.taskFd(c.argFd(0))
	if errno != 0 {
		return resultFor(errno)
	}
	defer unix.Close(fd)
	if mode&^unix.FALLOC_FL_KEEP_SIZE != 0 {
		if errno := c.checkData(fd, "fallocate", rights.Write); errno != 0 {
			return fail(errno)
		}
	}
	return c.fdResult(c.asCaller(func() error { return vfsops.Fallocate(fd, mode, off, length) }))
}
