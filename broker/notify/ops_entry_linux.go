package notify

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// readlink(path, buf, size)
func sysReadlink(c *call) result {
	return c.readlinkat(unix.AT_FDCWD, c.arg(0), c.arg(1), c.arg(2))
}

// readlinkat(dirfd, path, buf, size)
func sysReadlinkat(c *call) result {
	return c.readlinkat(c.argFd(0), c.arg(1), c.arg(2), c.arg(3))
}

func (c *call) readlinkat(dirfd int32, addr, buf, size uint64) result {
	const op = "readlink"
	if int32(size) <= 0 {
		return fail(unix.EINVAL)
	}
	p, errno := c.readPath(addr, &c.path)
	if errno != 0 {
		return fail(errno)
	}
	var target string
	fd := -1
	if p == "" {
		// readlinkat(fd, "") reads the symlink an O_PATH fd names.
		if fd, errno = c.taskFd(dirfd); errno != 0 {
			return resultFor(errno)
		}
		if abs, ok := c.s.standins.of(fd); ok {
			// An O_PATH stand-in: the symlink it stands for, by name.
			unix.Close(fd)
			dirfd, p = unix.AT_FDCWD, abs
		}
	}
	if p == "" {
		var err error
		target, err = vfsops.ReadlinkFd(fd)
		unix.Close(fd)
		if err != nil {
			return fail(c.errnoOf(op, location{}, err))
		}
	} else {
		l, errno := c.locate(dirfd, p)
		if errno != 0 {
			return resultFor(errno)
		}
		if _, isAncestor := c.s.grants.ancestor(l.abs); isAncestor && l.g == nil {
			// A directory of the skeleton: not a symlink.
			return fail(unix.EINVAL)
		}
		if pp, inView := c.procOf(l.abs); inView && l.inProcView() {
			if t, found := c.procReadlink(pp, l.abs); found {
				n := min(uint64(len(t)), uint64(int32(size)))
				if errno := c.writeMemory(buf, []byte(t[:n])); errno != 0 {
					return fail(errno)
				}
				return ok(int64(n))
			}
		}
		if errno := c.check(&l, asProbe(needFor(op, vfsops.Request{Op: vfsops.OpReadlink}, vfsops.OnDir))); errno != 0 {
			return fail(errno)
		}
		if l.rest == "." {
			// Grants are opened following symlinks: the granted
			// object is never a symlink.
			return fail(unix.EINVAL)
		}
		var t string
		err := c.asCaller(func() (err error) {
			t, err = vfsops.Readlink(l.g.fd, l.rest, resolveHow)
			return err
		})
		if err != nil {
			return fail(c.errnoOf(op, l, err))
		}
		target = t
	}
	n := min(uint64(len(target)), uint64(int32(size)))
	if errno := c.writeMemory(buf, []byte(target[:n])); errno != 0 {
		return fail(errno)
	}
	return ok(int64(n))
}

// mkdir(path, mode)
func sysMkdir(c *call) result { return c.mkdirat(unix.AT_FDCWD, c.arg(0), uint32(c.arg(1))) }

// mkdirat(dirfd, path, mode)
func sysMkdirat(c *call) result { return c.mkdirat(c.argFd(0), c.arg(1), uint32(c.arg(2))) }

func (c *call) mkdirat(dirfd int32, addr uint64, mode uint32) result {
	const op = "mkdir"
	l, r, done := c.locateChecked(dirfd, addr, asEntry(needFor(op, vfsops.Request{Op: vfsops.OpMkdir}, vfsops.OnDir)))
	if done {
		return r
	}
	mode = mode & 0o7777 &^ c.umask()
	return c.errResult(op, l, c.asCaller(func() error { return vfsops.Mkdir(l.g.fd, l.rest, mode, resolveHow) }))
}

// unlink(path)
func sysUnlink(c *call) result { return c.unlinkat(unix.AT_FDCWD, c.arg(0), 0) }

// rmdir(path)
func sysRmdir(c *call) result { return c.unlinkat(unix.AT_FDCWD, c.arg(0), unix.AT_REMOVEDIR) }

// unlinkat(dirfd, path, flags)
func sysUnlinkat(c *call) result { return c.unlinkat(c.argFd(0), c.arg(1), int(int32(c.arg(2)))) }

func (c *call) unlinkat(dirfd int32, addr uint64, flags int) result {
	const op = "unlink"
	if flags&^unix.AT_REMOVEDIR != 0 {
		return fail(unix.EINVAL)
	}
	unlinkOp := vfsops.OpUnlink
	if flags&unix.AT_REMOVEDIR != 0 {
		unlinkOp = vfsops.OpRmdir
	}
	l, r, done := c.locateChecked(dirfd, addr, asEntry(needFor(op, vfsops.Request{Op: unlinkOp}, vfsops.OnDir)))
	if done {
		return r
	}
	return c.errResult(op, l, c.asCaller(func() error {
		if flags&unix.AT_REMOVEDIR != 0 {
			return vfsops.Rmdir(l.g.fd, l.rest, resolveHow)
		}
		return vfsops.Unlink(l.g.fd, l.rest, resolveHow)
	}))
}

// rename(old, new)
func sysRename(c *call) result {
	return c.renameat2(unix.AT_FDCWD, c.arg(0), unix.AT_FDCWD, c.arg(1), 0)
}

// renameat(olddirfd, old, newdirfd, new)
func sysRenameat(c *call) result {
	return c.renameat2(c.argFd(0), c.arg(1), c.argFd(2), c.arg(3), 0)
}

// renameat2(olddirfd, old, newdirfd, new, flags)
func sysRenameat2(c *call) result {
	return c.renameat2(c.argFd(0), c.arg(1), c.argFd(2), c.arg(3), uint(uint32(c.arg(4))))
}

func (c *call) renameat2(olddirfd int32, oldAddr uint64, newdirfd int32, newAddr uint64, flags uint) result {
	const op = "rename"
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		// RENAME_WHITEOUT needs CAP_MKNOD and is for overlayfs: refused.
		return fail(unix.EINVAL)
	}
	req := vfsops.Request{Op: vfsops.OpRename, Flags: int(flags)}
	from, to, r, done := c.locatePair(olddirfd, oldAddr, newdirfd, newAddr)
	if done {
		return r
	}
	from.entry, to.entry = true, true
	if errno := c.check(&from, needFor(op, req, vfsops.OnSourceDir)); errno != 0 {
		return fail(errno)
	}
	if errno := c.check(&to, needFor(op, req, vfsops.OnTargetDir)); errno != 0 {
		return fail(errno)
	}
	// Replacing an existing entry destroys it, which rename-to alone does
	// not allow: as in Capsicum (renameat needs CAP_UNLINKAT on the target
	// directory) and the library (Dir.Rename), it also needs unlink there.
	// Without it the rename is made with RENAME_NOREPLACE, so an entry that
	// appears after any check we could make is not replaced either; the
	// kernel's EEXIST is then our refusal. RENAME_EXCHANGE destroys
	// nothing.
	req.Replaces = true
	if _, toDir := to.rightsAt(); !toDir.Has(req.On(vfsops.OnTargetDir)) {
		err := c.asCaller(func() error {
			return vfsops.RenameFlags(from.g.fd, from.rest, to.g.fd, to.rest, flags|unix.RENAME_NOREPLACE, resolveHow)
		})
		if errnoIs(err, unix.EEXIST) {
			c.refuse(op, to.abs, rights.Unlink, to.g.describe()+"; replacing an existing entry destroys it")
			return fail(unix.EACCES)
		}
		return c.errResult(op, from, err)
	}
	return c.errResult(op, from, c.asCaller(func() error {
		return vfsops.RenameFlags(from.g.fd, from.rest, to.g.fd, to.rest, flags, resolveHow)
	}))
}

// symlink(target, linkpath)
func sysSymlink(c *call) result { return c.symlinkat(c.arg(0), unix.AT_FDCWD, c.arg(1)) }

// symlinkat(target, dirfd, linkpath)
func sysSymlinkat(c *call) result { return c.symlinkat(c.arg(0), c.argFd(1), c.arg(2)) }

// symlinkat stores the target verbatim: a symlink is only ever followed
// beneath a grant, so an absolute or climbing target can point nowhere the
// program could not reach anyway.
func (c *call) symlinkat(targetAddr uint64, dirfd int32, addr uint64) result {
	const op = "symlink"
	target, errno := c.readPath(targetAddr, &c.path2)
	if errno != 0 {
		return fail(errno)
	}
	if target == "" {
		return fail(unix.ENOENT)
	}
	l, r, done := c.locateChecked(dirfd, addr, asEntry(needFor(op, vfsops.Request{Op: vfsops.OpSymlink}, vfsops.OnDir)))
	if done {
		return r
	}
	return c.errResult(op, l, c.asCaller(func() error { return vfsops.Symlink(target, l.g.fd, l.rest, resolveHow) }))
}

// link(old, new)
func sysLink(c *call) result { return c.linkat(unix.AT_FDCWD, c.arg(0), unix.AT_FDCWD, c.arg(1), 0) }

// linkat(olddirfd, old, newdirfd, new, flags)
func sysLinkat(c *call) result {
	return c.linkat(c.argFd(0), c.arg(1), c.argFd(2), c.arg(3), int(int32(c.arg(4))))
}

func (c *call) linkat(olddirfd int32, oldAddr uint64, newdirfd int32, newAddr uint64, flags int) result {
	const op = "link"
	if flags != 0 {
		// AT_SYMLINK_FOLLOW and AT_EMPTY_PATH name the source through a
		// symlink or a descriptor: not supported, refused plainly.
		c.report(Refusal{Kind: KindNotSupported, Op: op, Why: fmt.Sprintf("flags %#x", flags)})
		return fail(unix.EPERM)
	}
	from, to, r, done := c.locatePair(olddirfd, oldAddr, newdirfd, newAddr)
	if done {
		return r
	}
	// Link-from on the directory the name is taken from, as the table
	// (and Capsicum's CAP_LINKAT_SOURCE) says. A link out of a nested
	// grant into a wider one is bounded by the nested grant's rights on
	// that directory.
	req := vfsops.Request{Op: vfsops.OpLink}
	to.entry = true // the old name is looked up: "link/" is followed
	if errno := c.check(&from, needFor(op, req, vfsops.OnSourceDir)); errno != 0 {
		return fail(errno)
	}
	if errno := c.check(&to, needFor(op, req, vfsops.OnTargetDir)); errno != 0 {
		return fail(errno)
	}
	return c.errResult(op, from, c.asCaller(func() error {
		return vfsops.Link(from.g.fd, from.rest, to.g.fd, to.rest, resolveHow)
	}))
}

// locateChecked reads the path at addr, locates and checks it, and refuses
// a missing optional grant.
// locatePair reads and locates the two paths of a rename or link. Both are
// copied out of the program before either is resolved, so neither lookup
// can see the other's buffer change underneath it.
func (c *call) locatePair(olddirfd int32, oldAddr uint64, newdirfd int32, newAddr uint64) (from, to location, r result, done bool) {
	oldPath, errno := c.readPath(oldAddr, &c.path)
	if errno != 0 {
		return from, to, fail(errno), true
	}
	newPath, errno := c.readPath(newAddr, &c.path2)
	if errno != 0 {
		return from, to, fail(errno), true
	}
	if from, errno = c.locate(olddirfd, oldPath); errno != 0 {
		return from, to, resultFor(errno), true
	}
	if to, errno = c.locate(newdirfd, newPath); errno != 0 {
		return from, to, resultFor(errno), true
	}
	return from, to, result{}, false
}

func (c *call) locateChecked(dirfd int32, addr uint64, n need) (location, result, bool) {
	p, errno := c.readPath(addr, &c.path)
	if errno != 0 {
		return location{}, fail(errno), true
	}
	l, errno := c.locate(dirfd, p)
	if errno != 0 {
		return l, resultFor(errno), true
	}
	l.entry = n.entry
	if errno := c.check(&l, n); errno != 0 {
		return l, fail(errno), true
	}
	if l.g.fd < 0 {
		return l, fail(unix.ENOENT), true
	}
	return l, result{}, false
}

func (c *call) errResult(op string, l location, err error) result {
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	return ok(0)
}
