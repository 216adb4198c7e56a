package capfd

import (
	"strings"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// placedOpen is Dir.openFile on a placed Dir (place.go).
func (d *Dir) placedOpen(pl *placement, path string, flags int, mode uint32, extra Resolve, r rights.Rights) (*File, error) {
	follow := flags&unix.O_NOFOLLOW == 0 && flags&(unix.O_CREAT|unix.O_EXCL) != unix.O_CREAT|unix.O_EXCL
	p := path
	fileNeed, _ := openNeeds(flags)
	obj := fileNeed
	tmpfile := flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0
	if tmpfile {
		// The file is made in the directory path names: place that. The
		// new file lies beneath it, never at a root.
		p = strings.TrimRight(path, "/") + "/."
		obj = 0
	}
	var nf *File
	err := d.viaPlace(pl, "open", p, extra, lookupOr(follow), obj, func(a *placedAt) (err error) {
		// The new file's ceiling is the opener's (its Dir's inherit
		// rights) cut to what the place allows: a read of the nested
		// read-only grant's file through H=rw gets a read-only file,
		// recorded as such (and so answered). What the flags need must
		// be within it.
		within := r.Intersect(a.ps.objectCeiling(a.name, flags))
		if a.bound != nil && !tmpfile {
			within = within.Intersect(a.bound.Base)
		}
		nf, err = a.ps.openFile(a.name, flags, mode, extra, within)
		return err
	})
	if err != nil {
		return nil, err
	}
	nf.name, nf.how = path, d.how|extra
	return nf, nil
}

// placedOpenDir is Dir.openDir on a placed Dir; the new Dir is placed too.
func (d *Dir) placedOpenDir(pl *placement, path string, extra Resolve, r rights.Pair) (*Dir, error) {
	a, err := d.placeAt(pl, "opendir", path, extra, followFinal, true)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if b := a.bound; b != nil && (!b.Base.Has(r.Base) || !b.Inherit.Has(r.Inherit)) {
		if !b.Base.Has(r.Base) {
			return nil, notCapable("opendir", path, r.Base, b.Base)
		}
		return nil, notGrantable("opendir", path, r.Inherit, b.Inherit)
	}
	nd, err := a.ps.openDir(a.name, extra, r)
	if err != nil {
		return nil, placedPath(err, path)
	}
	nd.name, nd.how = path, d.how|extra
	pl.places.Place(nd)
	return nd, nil
}
