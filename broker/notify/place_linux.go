package notify

import (
	"errors"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Rights follow the object reached, not the name.
//
// locate matches a path against the grants by name, and rightsAt picks base
// or inherit rights by the name's depth. Beneath the matched grant the
// kernel resolves the rest, following symlinks and ".." that stay inside
// it, so the object reached can lie somewhere the name does not say:
//
//   - in a nested grant: with H=rw and H/secret=ro, "H/l/key" where
//     H/l -> secret is H/secret/key, and after "mv H/a H/b" the nested
//     grant once at H/a/secret2 is at H/b/secret2;
//   - at another depth: with D=lookup,readdir,stat:rw (base narrower than
//     inherit), "D/sub/up/x" where D/sub/up -> .. is the entry x of D.
//
// So where it can matter, check pins the location before deciding (pin):
// the parent directory is resolved beneath the grant, and its place is
// found by identity, not by name: the walk goes up ".." from that
// directory, comparing each (device, inode) with the grants' roots, to the
// nearest one; zero steps mean the parent is the granted directory itself
// (base rights), more mean inherit rights. The final name, if it is itself
// a grant's root (a nested granted directory or file, also through a hard
// link), has that grant's base rights. An operation that follows a final
// symlink has the symlink spliced into the path and located again, so its
// target is placed the same way. The operation then acts on the pinned
// parent and the final name with RESOLVE_NO_SYMLINKS: a symlink swapped in
// after the check fails with ELOOP instead of being followed. What the
// check decided is what the kernel acts on; a rename racing the walk can
// make a concurrent operation see the tree as it was a moment before,
// never reach an object the check did not place.
//
// Pinning costs an open and a stat per level between the parent and its
// grant, so it is done only where names can mislead: every grant when one
// grant lies inside another (a nested grant can also be moved or linked
// elsewhere), otherwise grants whose base and inherit rights differ.

// fileID is a file's identity.
type fileID = vfsops.FileID

func idOf(fd int) (fileID, error) { return vfsops.IDOf(fd) }

// indexRoots records each grant's identity and whether any grant lies
// inside another (by name, at start: grants are opened from trusted
// configuration, and one can only come to lie inside another later if it
// was nested to begin with).
func (t *grantTable) indexRoots() {
	t.roots = map[fileID]*grant{}
	for _, g := range t.grants {
		if g.fd < 0 {
			continue
		}
		if id, err := idOf(g.fd); err == nil {
			if _, dup := t.roots[id]; !dup {
				t.roots[id] = g
			}
		}
	}
	for _, g := range t.grants {
		for _, other := range t.grants {
			if g == other {
				continue
			}
			for _, name := range g.names {
				if outer, _ := t.matchIn(other, name); outer && other.isDir {
					t.nested = true
				}
			}
		}
	}
}

// matchIn reports whether abs is strictly beneath one of g's names.
func (t *grantTable) matchIn(g *grant, abs string) (bool, string) {
	for _, name := range g.names {
		switch {
		case name == "/" && abs != "/":
			return true, abs[1:]
		case strings.HasPrefix(abs, name+"/"):
			return true, abs[len(name)+1:]
		}
	}
	return false, ""
}

// pinNeeded reports whether names can mislead for a location in g.
func (t *grantTable) pinNeeded(g *grant) bool {
	return g != nil && g.fd >= 0 && g.isDir && (t.nested || g.Rights.Base != g.Rights.Inherit)
}

// placeOf finds the grant whose root is dirfd's directory or its nearest
// ancestor, and how many levels up it is; nil if none is (the directory
// was moved out of every grant meanwhile). The walk is vfsops.Place's.
func (t *grantTable) placeOf(dirfd int) (*grant, int, error) {
	var found *grant
	depth, err := vfsops.Place(dirfd, func(id fileID, _ int) bool {
		if g, ok := t.roots[id]; ok && g.isDir {
			found = g
			return true
		}
		return false
	})
	if errors.Is(err, vfsops.ErrNotPlaced) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return found, depth, nil
}

// pin replaces a location in a grant where names can mislead by one
// anchored at its real parent directory, with the rights of its real
// place (see the comment at the top of this file). The parent descriptor
// is closed when the notification has been answered. follow is whether the
// operation follows a symlink in the final name.
func (c *call) pin(l location, follow bool) (location, unix.Errno) {
	// "link/" names the link's target for a lookup; an entry operation
	// acts on the link itself and the kernel answers for the slash.
	follow = follow || !l.entry && strings.HasSuffix(l.rest, "/")
	for hop := 0; ; hop++ {
		if l.g == nil || l.pinned || l.rest == "." || !c.s.grants.pinNeeded(l.g) {
			return l, 0
		}
		var parent int
		var name string
		err := c.asCaller(func() (err error) {
			parent, name, err = vfsops.OpenParent(l.g.fd, strings.TrimSuffix(l.rest, "/"), resolveHow)
			return err
		})
		if err != nil {
			// Missing, or an escape that the operation's own
			// resolution reports (and followOut may follow): leave the
			// location as it is, the operation fails the same way.
			return l, 0
		}
		c.pinnedFds = append(c.pinnedFds, parent)
		var st unix.Stat_t
		statErr := statEntry(parent, name, &st)
		if statErr == nil && follow && st.Mode&unix.S_IFMT == unix.S_IFLNK && hop < maxHops {
			next, ok := c.splice(parent, name, l)
			if !ok {
				return l, unix.EACCES
			}
			l = next
			continue
		}
		g, depth, err := c.s.grants.placeOf(parent)
		if err != nil || g == nil {
			c.refuse("lookup", l.abs, rights.Lookup, "its directory is no longer in any grant")
			return l, unix.EACCES
		}
		place := g.Rights
		if depth > 0 {
			// What the grant gives a directory beneath it
			// (rights.Pair.Dir), and Inherit below.
			place = rights.Pair{Base: g.Rights.Dir(false), Inherit: g.Rights.Inherit}
		}
		pinned := location{
			entry:  l.entry,
			abs:    l.abs,
			g:      &grant{Grant: Grant{Path: g.Path, Rights: place, Learn: g.Learn}, names: g.names, fd: parent, isDir: true},
			rest:   name,
			pinned: true,
		}
		if strings.HasSuffix(l.rest, "/") {
			pinned.rest += "/"
		}
		if statErr == nil {
			if obj, ok := c.s.grants.roots[fileID{Dev: st.Dev, Ino: st.Ino}]; ok {
				pinned.object = obj
			}
		}
		return pinned, 0
	}
}

// splice turns a location whose final name is a symlink into the location
// of its target, as the kernel would resolve it: relative to the
// directory holding the link, whose real path procfs reports.
func (c *call) splice(parent int, name string, l location) (location, bool) {
	target, err := vfsops.ReadlinkEntry(parent, name)
	if err != nil {
		return l, false
	}
	if !path.IsAbs(target) {
		dir, err := fdPath(parent)
		if err != nil {
			return l, false
		}
		target = dir + "/" + target
	}
	target = path.Clean(target)
	g, rest := c.s.grants.match(target)
	if g != nil && rest != "." && strings.HasSuffix(l.rest, "/") {
		rest += "/"
	}
	return location{abs: target, g: g, rest: rest}, true
}

// closePinned closes the parent descriptors pin opened for this
// notification.
func (c *call) closePinned() {
	for _, fd := range c.pinnedFds {
		unix.Close(fd)
	}
	c.pinnedFds = c.pinnedFds[:0]
}

// how is the resolution an operation on l uses: a pinned location's final
// name must not be followed as a symlink (pin already followed it).
func (l location) how() vfsops.Resolve {
	if l.pinned {
		return resolveHow | vfsops.NoSymlinks
	}
	return resolveHow
}
