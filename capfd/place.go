package capfd

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Rights follow the object reached, not the name: placement.
//
// A set of grants (Places: a broker client's root handles, or one Dir's
// own directory when its base and inherit rights differ) are root handles. When one grant's directory
// lies inside another's (H=rw and H/secret=ro), or a grant's base and
// inherit rights differ, a path beneath a handle can reach an object whose
// rights its name does not say: "l/key" with l -> secret is H/secret/key;
// after "mv a b" the nested grant once at a/secret2 is at b/secret2; and
// "sub/up" with sub/up -> .. is the granted directory itself, which an
// OpenDir would otherwise hand out with inherit rights as its base.
//
// So for such a Dir every path operation is placed first (Dir.placeAt):
//
//  1. The directory holding the final entry is opened beneath the handle
//     (vfsops.OpenParent; for a final "." or "..", the directory itself).
//     A final symlink that the operation follows is spliced into the path
//     (its target, relative to the link's directory) and the result
//     placed again, so its target is placed the same way.
//  2. That directory's place is found by identity (vfsops.Place): up ".."
//     comparing each (device, inode) with the client's grant roots, to the
//     nearest one. Rights follow the object (rights/pair.go): the
//     handle's own directory has the handle's pair, a directory beneath it
//     what the pair gives there (rights.Pair.Dir, and Inherit below); in
//     another grant (a nested one, or one moved or linked in), the rights
//     are narrowed the same way by that grant's pair.
//  3. The operation is checked, with the same code as always, as if it
//     were made through a handle for that directory carrying the handle's
//     own rights intersected with the place's: a handle never does more
//     than it says, and never more than where it acts allows. If the
//     final entry is itself a root (a grant's directory, or the handle's
//     own), what is done to that object is bounded by the root's rights
//     too: an OpenDir of it within its pair, an open or a stat, chmod,
//     chown, chtimes, truncate or readlink of it within its base.
//  4. The operation acts on the placed directory's descriptor with the
//     single final name and NoSymlinks (RESOLVE_NO_SYMLINKS): a symlink
//     swapped in after the check fails with ELOOP instead of being
//     followed, and a rename racing the walk can only make the check see
//     the tree as it was a moment before. What was checked is the
//     directory the kernel acts in.
//
// Dirs opened through a placed Dir are placed the same way (they keep its
// Places, and their own root). Placement costs an open and a stat per
// level between the directory and its grant, so Dirs whose grants neither
// nest nor differ in base and inherit are not placed.
//
// This is capfd's, not the broker's: a local Dir whose halves differ is
// placed too (with itself as the only root), so one implementation decides
// every path operation whatever serves it. The broker makes its clients'
// grants placed (NewPlaces, Places.Place) and serves them as Dirs.

// Places is a set of grant roots by identity (a broker client's), shared
// by every Dir placed against it.
type Places struct {
	roots  map[vfsops.FileID]rights.Pair
	active bool // names can mislead: grants nest, repeat, or differ in base and inherit
}

// NewPlaces indexes a set of grants: local Dirs, such as the ones a broker
// opens for a client. Nesting is decided by identity (a grant's root has
// another's among its ancestors), once, when the set is made. The grants
// are not changed: Places.Place makes each of them placed.
func NewPlaces(grants []*Dir) (*Places, error) {
	p := &Places{roots: make(map[vfsops.FileID]rights.Pair, len(grants))}
	for _, d := range grants {
		if d.t != local {
			return nil, errors.New("capfd: places: not a local handle")
		}
		id, err := vfsops.IDOf(fd(d.h))
		if err != nil {
			return nil, pathError("places", d.name, err)
		}
		r := d.rights
		if prev, dup := p.roots[id]; dup {
			// The same directory granted twice: the client holds both.
			r = rights.Pair{Base: prev.Base.Union(r.Base), Inherit: prev.Inherit.Union(r.Inherit)}
			p.active = true
		}
		p.roots[id] = r
		if d.rights.Base != d.rights.Inherit {
			p.active = true
		}
	}
	for _, d := range grants {
		if p.active {
			break
		}
		_, err := vfsops.Place(fd(d.h), func(id vfsops.FileID, depth int) bool {
			_, ok := p.roots[id]
			return ok && depth > 0
		})
		if err == nil {
			p.active = true
		}
	}
	return p, nil
}

// Active reports whether the grants' operations are placed.
func (p *Places) Active() bool { return p != nil && p.active }

// Place makes d's path operations placed against p: d's own directory is
// a root of its own, and the grant it lies in (its own, or the nearest
// granted ancestor) bounds it. Call it before d is used, typically on each
// of the grants given to NewPlaces. It does nothing when p is not active
// (no grant nests in another or differs in base and inherit), d is not
// local, or d's directory lies in none of p's grants.
func (p *Places) Place(d *Dir) {
	if !p.Active() || d.t != local {
		return
	}
	id, err := vfsops.IDOf(fd(d.h))
	if err != nil {
		return
	}
	var grant vfsops.FileID
	if _, err := vfsops.Place(fd(d.h), func(g vfsops.FileID, _ int) bool {
		_, ok := p.roots[g]
		grant = g
		return ok
	}); err != nil {
		return
	}
	d.place.Store(&placement{places: p, root: id, grant: grant})
}

// placement is how a placed Dir's paths are placed: against places, with
// root the Dir's own directory and grant the grant it lies in. self marks
// a Dir's placement with itself as the only root (selfPlacement), which a
// Limit of the Dir makes again for its own rights rather than sharing.
type placement struct {
	places      *Places
	root, grant vfsops.FileID
	self        bool
}

// placing returns d's placement, or nil when d's paths are taken by name.
// A placed directory's Dir (final) has none: the names it is given are
// single final entries that placement has decided, so it never places
// again.
func (d *Dir) placing() *placement {
	if d.final {
		return nil
	}
	if pl := d.place.Load(); pl != nil {
		return pl
	}
	if !d.placedLocal() {
		return nil
	}
	// A Dir outside any Places whose halves differ places itself.
	return d.selfPlacement()
}

// placedAt is the directory holding a path's final entry, placed: ps is a
// Dir for it with the rights of the operation there, name the final entry,
// bound the rights of that entry when it is itself a root.
type placedAt struct {
	ps    *Dir
	name  string
	bound *rights.Pair
	fd    int
}

func (a *placedAt) close() {
	if a.fd >= 0 {
		unix.Close(a.fd)
	}
}

// maxSplices bounds the symlinks placeAt follows, as the kernel's 40.
const maxSplices = 40

// finalLink is what an operation does with a symlink in the final
// component of its path, as the kernel does it.
type finalLink uint8

const (
	// lookupFinal: not followed, unless the path ends in a slash, which
	// makes the kernel follow it ("link/" is the directory): lstat,
	// readlink, link's old name, open with O_NOFOLLOW.
	lookupFinal finalLink = iota
	// followFinal: followed (stat, chmod, truncate, open).
	followFinal
	// entryFinal: never followed, slash or not. mkdir, unlink, rmdir,
	// rename, symlink and link's new name act on the entry itself, and
	// the kernel gives a trailing slash its meaning there ("link/" is
	// ENOTDIR for rename, EEXIST for mkdir); the slash is passed on.
	entryFinal
)

// lookupOr is followFinal if follow, else lookupFinal.
func lookupOr(follow bool) finalLink {
	if follow {
		return followFinal
	}
	return lookupFinal
}

// placeAt places path beneath d by pl (see the comment at the top of this
// file).
// final: what the operation does with a final symlink. noSymlinks: the
// handle for the directory refuses every symlink (off only for BindMount,
// whose final open is O_NOFOLLOW already and which takes no resolve
// options).
func (d *Dir) placeAt(pl *placement, opName, path string, extra Resolve, final finalLink, noSymlinks bool) (*placedAt, error) {
	if err := d.use(opName, path); err != nil {
		return nil, err
	}
	defer d.done()
	h := d.how | extra
	follow := final == followFinal || final == lookupFinal && strings.HasSuffix(path, "/")
	cur := path
	for hop := 0; ; hop++ {
		parent, name, err := openParentOrSelf(fd(d.h), cur, h, final == entryFinal)
		if err != nil {
			return nil, pathError(opName, path, err)
		}
		var st unix.Stat_t
		var statErr error = unix.ENOENT
		switch name {
		case ".":
			st, statErr = vfsops.Fstat(parent)
		case "..":
			// An entry operation's final "..": nothing is acted on.
		default:
			st, statErr = vfsops.StatEntry(parent, name)
		}
		if statErr == nil && follow && h&NoSymlinks == 0 && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := vfsops.ReadlinkEntry(parent, name)
			unix.Close(parent)
			if err == nil && hop >= maxSplices {
				err = unix.ELOOP
			}
			if err == nil {
				cur, err = splice(cur, target, h)
			}
			if err != nil {
				return nil, pathError(opName, path, err)
			}
			continue
		}
		var place rights.Pair
		var placeID vfsops.FileID
		placeDepth, err := vfsops.Place(parent, func(id vfsops.FileID, _ int) bool {
			r, ok := pl.places.roots[id]
			place, placeID = r, id
			return ok
		})
		if err != nil {
			unix.Close(parent)
			if errors.Is(err, vfsops.ErrNotPlaced) {
				// Moved out of every grant: nothing here is granted.
				return nil, notCapable(opName, path, rights.Lookup, rights.None)
			}
			return nil, pathError(opName, path, err)
		}
		// The directory's rights follow the object (rights/pair.go): the
		// handle's own directory has the handle's rights; a directory
		// beneath it has what the handle gives objects beneath (its
		// inherit rights, as base and inherit). In another grant (found
		// by identity: a nested one, or one moved or linked in) they are
		// narrowed the same way by that grant's pair.
		r := d.rights
		parentID, err := vfsops.IDOf(parent)
		if err != nil {
			unix.Close(parent)
			return nil, pathError(opName, path, err)
		}
		if parentID != pl.root {
			r = beneath(r)
		}
		if placeID != pl.grant {
			at := place
			if placeDepth > 0 {
				at = beneath(at)
			}
			r = rights.Pair{Base: r.Base.Intersect(at.Base), Inherit: r.Inherit.Intersect(at.Inherit)}
		}
		a := &placedAt{name: name, fd: parent}
		if statErr == nil {
			id := vfsops.FileID{Dev: st.Dev, Ino: st.Ino}
			if b, ok := pl.places.roots[id]; ok {
				a.bound = &b
			}
			if id == pl.root {
				b := d.rights
				if a.bound != nil {
					b = rights.Pair{Base: b.Base.Intersect(a.bound.Base), Inherit: b.Inherit.Intersect(a.bound.Inherit)}
				}
				a.bound = &b
			}
		}
		if strings.HasSuffix(path, "/") && name != "." && name != ".." {
			a.name += "/"
		}
		ph := h
		if noSymlinks {
			ph |= NoSymlinks
		}
		a.ps = &Dir{t: d.t, h: handleID(parent), rights: r, how: ph, name: d.name, final: true}
		return a, nil
	}
}

// beneath is the pair of a directory beneath a handle with pair p: what p
// gives a directory there, and p's inherit rights for what lies below it.
func beneath(p rights.Pair) rights.Pair { return rights.Pair{Base: p.Dir(false), Inherit: p.Inherit} }

// selfPlacement places d, a local Dir whose base and inherit rights
// differ, with itself as the only root: what a path reaches is then found
// by identity (d's own directory, or beneath it). Its directory's identity
// never changes, so it is read once and kept.
func (d *Dir) selfPlacement() *placement {
	if d.t != local {
		return nil
	}
	// Read while d is in use, so a concurrent Close cannot hand its
	// descriptor number to another file first.
	if err := d.use("place", d.name); err != nil {
		return nil
	}
	id, err := vfsops.IDOf(fd(d.h))
	d.done()
	if err != nil {
		return nil
	}
	pl := &placement{places: &Places{roots: map[vfsops.FileID]rights.Pair{id: d.rights}, active: true}, root: id, grant: id, self: true}
	if !d.place.CompareAndSwap(nil, pl) {
		return d.place.Load()
	}
	return pl
}

// openParentOrSelf is vfsops.OpenParent, except that a path whose final
// component is "." or ".." (or that is all slashes) names a directory
// that is opened itself, with "." as the name. For an entry operation
// (entry), a final "." or ".." is kept instead, relative to the directory
// before it, as the kernel's entry system calls see it: they answer it
// with an errno (EEXIST, EISDIR, EINVAL, ENOTEMPTY, EBUSY) and never act
// on it, so rmdir("..") is ENOTEMPTY, not an escape.
func openParentOrSelf(dirfd int, path string, how Resolve, entry bool) (int, string, error) {
	trimmed := strings.TrimRight(path, "/")
	i := strings.LastIndexByte(trimmed, '/')
	last := trimmed[i+1:]
	if entry && (last == "." || last == "..") {
		dir := "."
		if i == 0 {
			dir = "/"
		} else if i > 0 {
			dir = trimmed[:i]
		}
		fd, err := vfsops.OpenBeneath(dirfd, dir, unix.O_PATH|unix.O_DIRECTORY, 0, how)
		return fd, last, err
	}
	if last == "" || last == "." || last == ".." {
		fd, err := vfsops.OpenBeneath(dirfd, path, unix.O_PATH|unix.O_DIRECTORY, 0, how)
		return fd, ".", err
	}
	return vfsops.OpenParent(dirfd, path, how)
}

// splice replaces the final component of path, a symlink, by its target,
// relative to the link's directory as the kernel resolves it. An absolute
// target starts at the handle's root under InRoot and escapes otherwise.
func splice(path, target string, how Resolve) (string, error) {
	if target == "" {
		return "", unix.ENOENT
	}
	var next string
	if strings.HasPrefix(target, "/") {
		if how&InRoot == 0 {
			return "", vfsops.ErrEscape
		}
		next = target
	} else {
		trimmed := strings.TrimRight(path, "/")
		next = trimmed[:strings.LastIndexByte(trimmed, '/')+1] + target
	}
	if strings.HasSuffix(path, "/") {
		next += "/"
	}
	return next, nil
}

// viaPlace runs fn on path placed beneath d by pl, after checking that what the
// operation does to the final entry (obj, on its base) is within the
// entry's own rights when it is a root. Errors name the caller's path.
func (d *Dir) viaPlace(pl *placement, opName, path string, extra Resolve, final finalLink, obj rights.Rights, fn func(a *placedAt) error) error {
	a, err := d.placeAt(pl, opName, path, extra, final, true)
	if err != nil {
		return err
	}
	defer a.close()
	if a.bound != nil && !a.bound.Base.Has(obj) {
		return notCapable(opName, path, obj, a.bound.Base)
	}
	return placedPath(fn(a), path)
}

// placedPath puts the caller's path on an error made with a placed name.
func placedPath(err error, path string) error {
	var ce *Error
	var pe *fs.PathError
	switch {
	case errors.As(err, &ce):
		ce.Path = path
	case errors.As(err, &pe):
		pe.Path = path
	}
	return err
}

// twoPlaced places both paths of a rename or link (each beneath its own
// Dir, the one not placed taken as it is; oldFinal and newFinal say what
// each does with a final symlink) and runs fn on the two placed
// directories.
func (d *Dir) twoPlaced(opName, oldPath string, oldFinal finalLink, to *Dir, newPath string, newFinal finalLink, extra Resolve, fn func(from, target *placedAt) error) error {
	place := func(side *Dir, p string, final finalLink) (*placedAt, error) {
		pl := side.placing()
		if pl == nil {
			return &placedAt{ps: side, name: p, fd: -1}, nil
		}
		return side.placeAt(pl, opName, p, extra, final, true)
	}
	from, err := place(d, oldPath, oldFinal)
	if err != nil {
		return err
	}
	defer from.close()
	target, err := place(to, newPath, newFinal)
	if err != nil {
		return err
	}
	defer target.close()
	err = fn(from, target)
	var ce *Error
	var le *os.LinkError
	switch {
	case errors.As(err, &ce):
		if ce.Path == target.name {
			ce.Path = newPath
		} else {
			ce.Path = oldPath
		}
	case errors.As(err, &le):
		le.Old, le.New = oldPath, newPath
	}
	return err
}
