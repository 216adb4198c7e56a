package capfd

import (
	"fmt"
	"sync/atomic"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Dir is a directory capability: a handle to a directory plus the rights
// it carries. Every path given to its methods is resolved beneath the
// directory (never above it, never through /proc magic links), and every
// method checks the rights it needs before doing anything.
//
// A Dir is safe for concurrent use. Close it when done; methods called
// after Close return an error matching fs.ErrClosed.
type Dir struct {
	t      transport
	h      handleID
	rights rights.Pair
	how    vfsops.Resolve
	name   string
	life   lifetime
	// place, once set, makes every path operation placed by identity
	// (place.go): by Places.Place, or on first use for a Dir whose halves
	// differ (selfPlacement), which keeps it: its directory's identity
	// never changes, so it is read once, not on every path operation.
	place atomic.Pointer[placement]
	// final marks a placed directory's Dir (placedAt.ps), which never
	// places again.
	final bool
}

// Resolve options narrow how paths are resolved beneath a Dir, on top of
// the RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS that always apply. They are
// inherited by every Dir opened through the Dir.
type Resolve = vfsops.Resolve

const (
	NoXDev     = vfsops.NoXDev     // never cross a mount point
	NoSymlinks = vfsops.NoSymlinks // refuse every symlink
	// InRoot resolves as if the Dir were "/": ".." at the top and absolute
	// symlinks stay inside instead of failing with ErrEscape.
	InRoot = vfsops.InRoot
)

// OpenDir opens the directory at path as a capability with rights r. path
// may be absolute or relative to the working directory: this is the
// ambient step a program takes before it restricts itself to what its
// capabilities allow. how adds resolution options for everything resolved
// through the Dir.
func OpenDir(path string, r rights.Pair, how ...Resolve) (*Dir, error) {
	if u := r.Base.Union(r.Inherit).Unknown(); u != 0 {
		return nil, fmt.Errorf("capfd: open %s: rights %s unknown to this build", path, u)
	}
	h, err := openAmbient(path)
	if err != nil {
		return nil, err
	}
	var opts Resolve
	for _, o := range how {
		opts |= o
	}
	return &Dir{t: local, h: h, rights: r, how: opts, name: path}, nil
}

// Rights returns the rights d carries.
func (d *Dir) Rights() rights.Pair { return d.rights }

// Name returns the path d was opened with, for messages.
func (d *Dir) Name() string { return d.name }

// Limit returns a new handle to the same directory with rights r, which
// must lie within d's own (both Base and Inherit): asking for more fails
// with ErrNotCapable instead of being quietly cut down, so a caller never
// believes it holds what it does not. d stays open and unchanged.
func (d *Dir) Limit(r rights.Pair) (*Dir, error) {
	if !d.rights.Base.Has(r.Base) {
		return nil, notCapable("limit", d.name, r.Base, d.rights.Base)
	}
	if !d.rights.Inherit.Has(r.Inherit) {
		return nil, notGrantable("limit", d.name, r.Inherit, d.rights.Inherit)
	}
	if err := d.use("limit", d.name); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.Dup(d.h, r)
	if err != nil {
		return nil, pathError("limit", d.name, err)
	}
	nd := &Dir{t: d.t, h: h, rights: r, how: d.how, name: d.name}
	if pl := d.place.Load(); pl != nil && !pl.self {
		// Same directory, same grants; a Dir's own placement is made
		// again for the new rights when needed.
		nd.place.Store(pl)
	}
	return nd, nil
}

// Close releases d. A second Close returns an error matching fs.ErrClosed.
// Calls running on d in other goroutines finish first; the handle is
// released when the last of them returns.
func (d *Dir) Close() error {
	first, now := d.life.close()
	if !first {
		return closedError("close", d.name)
	}
	if !now {
		return nil
	}
	if err := d.t.Close(d.h); err != nil {
		return pathError("close", d.name, err)
	}
	return nil
}

// use registers a call on d; every successful use is paired with done.
func (d *Dir) use(opName, path string) error {
	if !d.life.acquire() {
		return closedError(opName, path)
	}
	return nil
}

func (d *Dir) done() {
	if d.life.release() {
		d.t.Close(d.h)
	}
}

// Identity returns the (device, inode) of the directory a local Dir holds,
// from its own descriptor: what the kernel layers key grants on, taken
// from the very object the Dir serves rather than from a second lookup of
// its name. A remote Dir has no local object: ErrNotLocal.
func (d *Dir) Identity() (vfsops.FileID, error) {
	if d.t != local {
		return vfsops.FileID{}, pathError("identity", d.name, ErrNotLocal)
	}
	if err := d.use("identity", d.name); err != nil {
		return vfsops.FileID{}, err
	}
	defer d.done()
	id, err := vfsops.IDOf(fd(d.h))
	if err != nil {
		return vfsops.FileID{}, pathError("identity", d.name, err)
	}
	return id, nil
}
