package notify

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// openAnchoredPinned is openAnchored's open where names can mislead
// (place_linux.go): openat2 with RESOLVE_BENEATH or RESOLVE_IN_ROOT,
// resolved from the task's dirfd, whose own rules (".." stops at the
// dirfd, absolute symlinks restart there) pin cannot reproduce by
// splicing. So the object is reached first, as the program asked, and
// placed afterwards, before anything is done to it:
//
//   - an existing object is opened O_PATH beneath the anchor with the
//     caller's resolution; a directory is placed by walking up from it, a
//     file by its directory (procfs names it; the entry is checked to be
//     this very file before that directory counts); the check is made with
//     the rights of that place, and only then is the O_PATH descriptor
//     reopened with the requested flags (vfsops.Reopen: no second lookup);
//   - a missing one is created in its placed parent, with O_EXCL and no
//     symlinks followed, so nothing that appears meanwhile is opened
//     unchecked (it is placed again instead, a bounded number of times).
func (c *call) openAnchoredPinned(l location, anchorFd int, p string, flags int, mode uint32, how vfsops.Resolve, op string) result {
	file, dir := vfsops.OpenRights(flags)
	creating := flags&unix.O_CREAT != 0
	for try := 0; try < maxHops; try++ {
		pathFlags := unix.O_PATH
		if flags&unix.O_NOFOLLOW != 0 || flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
			pathFlags |= unix.O_NOFOLLOW
		}
		var obj int
		err := c.asCaller(func() (err error) {
			obj, err = vfsops.OpenBeneath(anchorFd, p, pathFlags, 0, how)
			return err
		})
		switch {
		case err == nil:
			r, done := c.reopenPlaced(l, obj, flags, op)
			unix.Close(obj)
			if done {
				return r
			}
			continue // moved while placed: again
		case errnoIs(err, unix.ENOENT) && creating:
			r, done := c.createPlaced(l, anchorFd, p, flags, mode, how, file, dir, op)
			if done {
				return r
			}
			continue // appeared meanwhile: open it as existing
		default:
			return fail(c.errnoOf(op, l, err))
		}
	}
	return fail(unix.EAGAIN)
}

// reopenPlaced checks the object on obj with the rights of its place and
// reopens it with flags. done is false when its place could not be
// established (it was moved meanwhile).
func (c *call) reopenPlaced(l location, obj, flags int, op string) (result, bool) {
	var st unix.Stat_t
	if err := fstat(obj, &st); err != nil {
		return fail(unix.EIO), true
	}
	if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		return fail(unix.EEXIST), true
	}
	have, ok := c.placeObject(obj, st)
	if !ok {
		return result{}, false
	}
	// The object is open: its type decides a read-mode open (read of a
	// file, readdir of a directory).
	need, _ := vfsops.OpenRightsOn(flags, st.Mode&unix.S_IFMT == unix.S_IFDIR || flags&unix.O_DIRECTORY != 0)
	if missing := have.Missing(need); missing != 0 {
		c.refuse(op, l.abs, missing, "the object reached is placed by identity; its grant does not carry them")
		return fail(unix.EACCES), true
	}
	if flags&unix.O_PATH != 0 {
		// As openIn: an O_PATH descriptor cannot be installed.
		dup, err := vfsops.Dup(obj)
		if err != nil {
			return fail(unix.EMFILE), true
		}
		return c.substitutePath(location{abs: l.abs, g: &grant{Grant: Grant{Rights: rights.Uniform(have)}}, rest: "x"}, dup, op, flags&unix.O_CLOEXEC != 0), true
	}
	reopen := flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC) | unix.O_CLOEXEC
	fifo := st.Mode&unix.S_IFMT == unix.S_IFIFO
	if fifo {
		// Never block a worker: a reader gets the FIFO at once, a writer
		// without a reader ENXIO (documented for this path).
		reopen |= unix.O_NONBLOCK
	}
	var fd int
	err := c.asCaller(func() (err error) {
		fd, err = vfsops.Reopen(obj, reopen)
		return err
	})
	if err != nil {
		return fail(c.errnoOf(op, l, err)), true
	}
	if fifo && flags&unix.O_NONBLOCK == 0 {
		if err := vfsops.SetStatusFlags(fd, flags&unix.O_APPEND); err != nil {
			unix.Close(fd)
			return fail(unix.EIO), true
		}
	}
	return installFd(fd, flags&unix.O_CLOEXEC != 0), true
}

// placeObject returns the rights of the object on obj by its place: a
// grant's root has its base rights; a directory otherwise, and a file by
// its directory, the inherit rights of the nearest grant.
func (c *call) placeObject(obj int, st unix.Stat_t) (rights.Rights, bool) {
	t := c.s.grants
	if g, ok := t.roots[fileID{Dev: st.Dev, Ino: st.Ino}]; ok {
		return g.Rights.Base, true
	}
	dirfd := obj
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		parent, ok := realParent(obj, st)
		if !ok {
			return 0, false
		}
		defer unix.Close(parent)
		dirfd = parent
	}
	g, _, err := t.placeOf(dirfd)
	if err != nil || g == nil {
		return 0, false
	}
	return g.Rights.Inherit, true
}

// realParent opens the directory procfs names for obj's file and checks
// that its entry of that name is still this file.
func realParent(obj int, st unix.Stat_t) (int, bool) {
	p, err := fdPath(obj)
	if err != nil {
		return -1, false
	}
	dir, err := vfsops.OpenDirAmbient(path.Dir(p))
	if err != nil {
		return -1, false
	}
	var entry unix.Stat_t
	if err := statEntry(dir, path.Base(p), &entry); err != nil ||
		entry.Dev != st.Dev || entry.Ino != st.Ino {
		unix.Close(dir)
		return -1, false
	}
	return dir, true
}

// createPlaced creates the missing final entry of p in its placed parent.
// done is false when the entry appeared meanwhile.
func (c *call) createPlaced(l location, anchorFd int, p string, flags int, mode uint32, how vfsops.Resolve, fileNeed, dirNeed rights.Rights, op string) (result, bool) {
	var parent int
	var name string
	err := c.asCaller(func() (err error) {
		parent, name, err = vfsops.OpenParent(anchorFd, strings.TrimSuffix(p, "/"), how)
		return err
	})
	if err != nil {
		return fail(c.errnoOf(op, l, err)), true
	}
	defer unix.Close(parent)
	g, depth, err := c.s.grants.placeOf(parent)
	if err != nil || g == nil {
		return result{}, false
	}
	// The directory's rights, and the new entry's: its grant's inherit
	// rights (rightsAt's rule, by place).
	have := g.Rights.Inherit
	if depth == 0 {
		have = g.Rights.Base
	}
	missing := have.Missing(dirNeed|rights.Lookup) | g.Rights.Inherit.Missing(fileNeed)
	if missing != 0 {
		c.refuse(op, l.abs, missing, "the directory reached is placed by identity; its grant does not carry them")
		return fail(unix.EACCES), true
	}
	var fd int
	err = c.asCaller(func() (err error) {
		fd, err = vfsops.OpenBeneath(parent, name, flags|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, mode, resolveHow|vfsops.NoSymlinks)
		return err
	})
	switch {
	case errnoIs(err, unix.EEXIST) && flags&unix.O_EXCL == 0:
		return result{}, false
	case err != nil:
		return fail(c.errnoOf(op, l, err)), true
	}
	return installFd(fd, flags&unix.O_CLOEXEC != 0), true
}
