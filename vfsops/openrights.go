package vfsops

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// OpenRights returns the rights an open with flags needs: file on the
// opened object (checked against what the directory lets it inherit), dir
// on the directory the path is resolved in.
//
//   - O_PATH: Lookup only; the kernel ignores every other flag but
//     O_DIRECTORY and O_NOFOLLOW, and an O_PATH fd can do nothing with data.
//   - O_RDONLY: Read. With O_DIRECTORY, Readdir instead: a directory's
//     "data" is its entries, and O_DIRECTORY guarantees the object is one
//     (OpenRightsOn decides by the object's type instead).
//   - O_WRONLY: Write; O_RDWR: Read|Write.
//   - O_APPEND with a writable mode: Append in place of Write. The kernel
//     makes every write of an O_APPEND file description go to the end, so
//     an append-only capability can be handed an O_WRONLY|O_APPEND fd
//     without the right to rewrite (pwrite appends too on Linux).
//   - O_TRUNC: Truncate, whatever the mode (Linux truncates even on an
//     O_RDONLY|O_TRUNC open).
//   - O_CREAT, O_TMPFILE: Create on the directory, which gains an entry
//     (O_TMPFILE creates an unnamed file that linkat can name later).
//
// The directory always needs Lookup. Other flags (O_CLOEXEC, O_NOFOLLOW,
// O_EXCL, O_NONBLOCK, O_SYNC, O_NOATIME, ...) need nothing.
func OpenRights(flags int) (file rights.Rights, dir rights.Rights) {
	return OpenRightsOn(flags, flags&unix.O_DIRECTORY != 0)
}

// OpenRightsOn is OpenRights for an object known to be a directory or
// not: a read-mode open of a directory reads its entries and needs
// Readdir, whether or not O_DIRECTORY asked for one (OpenRights, which
// cannot know, takes O_DIRECTORY to mean a directory). O_TMPFILE creates a
// file in the directory named, so isDir says nothing about its object.
func OpenRightsOn(flags int, isDir bool) (file rights.Rights, dir rights.Rights) {
	dir = rights.Lookup
	if flags&unix.O_PATH != 0 {
		return rights.Lookup, dir
	}
	tmpfile := flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0
	if flags&unix.O_CREAT != 0 || tmpfile {
		dir |= rights.Create
	}
	write := rights.Write
	if flags&unix.O_APPEND != 0 {
		write = rights.Append
	}
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		if isDir && !tmpfile {
			file |= rights.Readdir
		} else {
			file |= rights.Read
		}
	case unix.O_WRONLY:
		file |= write
	case unix.O_RDWR:
		file |= rights.Read | write
	default:
		// O_ACCMODE (3) is Linux's "no access, ioctl only" mode; it needs
		// the ioctl right, which nothing else grants.
		file |= rights.Ioctl
	}
	if flags&unix.O_TRUNC != 0 {
		file |= rights.Truncate
	}
	return file, dir
}

// AccessModeFor returns the widest access mode a holder of r may be given
// an fd in: O_RDWR, O_WRONLY or O_RDONLY, with O_APPEND when r has Append
// but not Write. A holder of Readdir without Read gets
// O_RDONLY|O_DIRECTORY, which opens directories only (a file fails with
// ENOTDIR), so the entries are readable but no file's bytes are. ok is
// false when r allows no data access at all: such a holder gets O_PATH
// fds only, and O_PATH is returned.
//
// For every r, the file rights OpenRights(flags) asks for are within r.
func AccessModeFor(r rights.Rights) (flags int, ok bool) {
	read := r.Has(rights.Read)
	write := r.Has(rights.Write)
	appendOnly := !write && r.Has(rights.Append)
	switch {
	case read && write:
		return unix.O_RDWR, true
	case read && appendOnly:
		return unix.O_RDWR | unix.O_APPEND, true
	case read:
		return unix.O_RDONLY, true
	case write:
		return unix.O_WRONLY, true
	case appendOnly:
		return unix.O_WRONLY | unix.O_APPEND, true
	case r.Has(rights.Readdir):
		return unix.O_RDONLY | unix.O_DIRECTORY, true
	}
	return unix.O_PATH, false
}
