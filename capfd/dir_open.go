package capfd

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Open opens name for reading, like os.Open.
func (d *Dir) Open(name string) (*File, error) {
	return d.OpenFile(name, os.O_RDONLY, 0)
}

// Create creates or truncates name for reading and writing, like os.Create.
func (d *Dir) Create(name string) (*File, error) {
	return d.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// OpenFile opens name beneath d with open(2) flags (os.O_RDONLY, os.O_RDWR,
// os.O_CREATE, ...; O_CLOEXEC is always added) and, when it creates the
// file, mode perm (before the umask).
//
// The rights rules:
//
//   - d's Base must hold what the open does to the directory (lookup, and
//     create for O_CREATE/O_TMPFILE).
//   - d's Inherit must hold what the flags need on the file (read for
//     O_RDONLY, write for O_WRONLY, append instead of write with O_APPEND,
//     truncate for O_TRUNC, ...). If it does not, the open fails with
//     ErrNotCapable: a read-only directory never yields a writable file,
//     and a request is never quietly cut down to what is allowed.
//   - The new File carries d's Inherit rights restricted to FileRights,
//     whatever the flags. As in Capsicum, the rights are the ceiling of
//     what the handle may ever do, and the access mode is what was opened
//     now: a File opened O_RDONLY through a read-write directory cannot
//     write (the kernel refuses: EBADF), but File.Reopen can get a writable
//     open file from it, because its rights allow one. Use File.Limit to
//     drop rights before passing a File on.
func (d *Dir) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	return d.openFile(name, flag, syscallMode(perm), 0, d.objectCeiling(name, flag).Intersect(FileRights))
}

// openFile is OpenFile with the new File's rights r and resolve options
// extra added to d's (they only tighten). OpenFile gives the ceiling; a
// server (the broker) gives the rights its client asked for and records
// them, so for a local Dir r itself must also lie within what the open may
// grant and hold what the flags need: otherwise a client could open O_RDWR
// while recording read-only rights, and later be passed a writable
// descriptor. A remote Dir leaves that to the broker, which checks it with
// this same code.
func (d *Dir) openFile(path string, flags int, mode uint32, extra Resolve, r rights.Rights) (*File, error) {
	if pl := d.placing(); pl != nil {
		return d.placedOpen(pl, path, flags, mode, extra, r)
	}
	if err := d.check("open", openRequest(flags), vfsops.OnDir, path); err != nil {
		return nil, err
	}
	if d.t == local {
		fileNeed, _ := openNeeds(flags)
		ceiling := d.objectCeiling(path, flags)
		if alt, ok := typeUnknown(openRequest(flags)); ok && !(ceiling.Has(fileNeed) && r.Has(fileNeed)) {
			// Perhaps a directory, which needs readdir instead: checked
			// again once open (openTyped).
			fileNeed = alt.On(vfsops.OnObject)
		}
		if !ceiling.Has(fileNeed.Union(r)) {
			return nil, notGrantable("open", path, fileNeed.Union(r), ceiling)
		}
		if !r.Has(fileNeed) {
			return nil, notCapable("open", path, fileNeed, r)
		}
	}
	if err := d.use("open", path); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.Open(d.h, path, flags|unix.O_CLOEXEC, mode, d.how|extra, r)
	if err != nil {
		return nil, pathError("open", path, err)
	}
	if d.t == local {
		// A broker makes this check itself.
		if err := openTyped(d.t, h, "open", path, flags, r); err != nil {
			return nil, err
		}
	}
	return newFile(d.t, h, r, path, flags, d.how|extra), nil
}

// OpenDir opens the directory name beneath d as a new Dir with rights r.
// Both halves of r must lie within d's Inherit rights, or the call fails
// with ErrNotCapable; so along any chain of OpenDir calls rights only
// narrow. The new Dir keeps d's resolution options.
func (d *Dir) OpenDir(name string, r rights.Pair) (*Dir, error) {
	nd, err := d.openDir(name, 0, r)
	if err != nil {
		return nil, err
	}
	nd.name = filepath.Join(d.name, name)
	return nd, nil
}

// openDir is OpenDir with resolve options extra added to d's, for the new
// Dir too; the new Dir is named path.
func (d *Dir) openDir(path string, extra Resolve, r rights.Pair) (*Dir, error) {
	if pl := d.placing(); pl != nil {
		return d.placedOpenDir(pl, path, extra, r)
	}
	_, dirNeed := openNeeds(unix.O_PATH | unix.O_DIRECTORY)
	if !d.rights.Base.Has(dirNeed) {
		return nil, notCapable("opendir", path, dirNeed, d.rights.Base)
	}
	if want := r.Base.Union(r.Inherit); !d.rights.Inherit.Has(want) {
		return nil, notGrantable("opendir", path, want, d.rights.Inherit)
	}
	if err := d.use("opendir", path); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.OpenDir(d.h, path, d.how|extra, r)
	if err != nil {
		return nil, pathError("opendir", path, err)
	}
	return &Dir{t: d.t, h: h, rights: r, how: d.how | extra, name: path}, nil
}

// reopenSelf opens d's own directory for reading its entries. That is
// something d does itself, so it is governed by d's Base rights (readdir),
// not by Inherit.
func (d *Dir) reopenSelf(opName string) (*File, error) {
	n := need(vfsops.OpReaddir, vfsops.OnHandle) | need(vfsops.OpReopen, vfsops.OnHandle)
	if !d.rights.Base.Has(n) {
		return nil, notCapable(opName, d.name, n, d.rights.Base)
	}
	// The File reads entries and stats them for DirEntry.Info: only those
	// of d's rights come along.
	r := d.rights.Base.Intersect(rights.Lookup | rights.Read | rights.Readdir | rights.Seek | rights.Stat)
	if err := d.use(opName, "."); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.Reopen(d.h, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, r)
	if err != nil {
		return nil, pathError(opName, d.name, err)
	}
	return newFile(d.t, h, r, ".", unix.O_RDONLY|unix.O_DIRECTORY, d.how), nil
}
