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
	r := d.objectCeiling(name, flag).Intersect(FileRights)
	if d.placedLocal() {
		s, err := d.served().Open(name, flag, syscallMode(perm), 0, r)
		if err != nil {
			return nil, err
		}
		s.file.name = name
		return s.file, nil
	}
	if err := d.check("open", openRequest(flag), vfsops.OnDir, name); err != nil {
		return nil, err
	}
	if err := d.use("open", name); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.Open(d.h, name, flag|unix.O_CLOEXEC, syscallMode(perm), d.how, r)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if d.t == local {
		// A broker makes this check itself.
		if err := openTyped(d.t, h, "open", name, flag, r); err != nil {
			return nil, err
		}
	}
	return newFile(d.t, h, r, name, flag, d.how), nil
}

// OpenDir opens the directory name beneath d as a new Dir with rights r.
// Both halves of r must lie within d's Inherit rights, or the call fails
// with ErrNotCapable; so along any chain of OpenDir calls rights only
// narrow. The new Dir keeps d's resolution options.
func (d *Dir) OpenDir(name string, r rights.Pair) (*Dir, error) {
	if d.placedLocal() {
		s, err := d.served().OpenDir(name, 0, r)
		if err != nil {
			return nil, err
		}
		s.dir.name = filepath.Join(d.name, name)
		return s.dir, nil
	}
	_, dirNeed := openNeeds(unix.O_PATH | unix.O_DIRECTORY)
	if !d.rights.Base.Has(dirNeed) {
		return nil, notCapable("opendir", name, dirNeed, d.rights.Base)
	}
	if !d.rights.Inherit.Has(r.Base) {
		return nil, notGrantable("opendir", name, r.Base, d.rights.Inherit)
	}
	if !d.rights.Inherit.Has(r.Inherit) {
		return nil, notGrantable("opendir", name, r.Inherit, d.rights.Inherit)
	}
	if err := d.use("opendir", name); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.OpenDir(d.h, name, d.how, r)
	if err != nil {
		return nil, pathError("opendir", name, err)
	}
	return &Dir{t: d.t, h: h, rights: r, how: d.how, name: filepath.Join(d.name, name)}, nil
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
