package vfsops

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Placing a directory by identity, not by name.
//
// A name says where an object was when the name was written, and only
// lexically: beneath a directory the kernel follows symlinks and ".." that
// stay inside it, and a rename moves a whole subtree under another name.
// Code that gives different rights to different parts of a tree (a grant
// nested in another, base rights for a directory's own entries and
// inherit rights deeper) must therefore find where the directory it is
// about to act in really is. Place does that from a descriptor: it walks
// up ".." from the directory itself, comparing each (device, inode) with
// the roots the caller knows, and stops at the nearest one. The caller
// then acts on that same descriptor, with a single-component final name
// and NoSymlinks, so that what it checked is what the kernel acts on.
//
// Used by the supervisor (broker/notify, place_linux.go) and by the
// placed Dirs (capfd/place.go), which the broker serves.

// FileID is a file's identity: its device and inode numbers.
type FileID struct{ Dev, Ino uint64 }

// IDOf returns the identity of the file fd refers to.
func IDOf(fd int) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return FileID{}, err
	}
	return FileID{st.Dev, st.Ino}, nil
}

// MaxPlaceDepth bounds the walk of Place.
const MaxPlaceDepth = 4096

// ErrNotPlaced is Place's answer when the walk reached the file system's
// root without meeting a directory the caller stops at: the directory lies
// outside every root (it was moved out of them, for instance).
var ErrNotPlaced = errors.New("vfsops: directory lies beneath none of the roots")

// Place walks up ".." from the directory dirfd refers to, calling stop with
// each directory's identity and how many levels above dirfd it is (0 for
// dirfd's own directory), until stop returns true; it returns that depth.
// It fails with ErrNotPlaced at the root of the file system, and with
// ELOOP after MaxPlaceDepth levels. dirfd is left open.
//
// The walk is not confined: ".." is followed as the kernel follows it
// (across mount points, up to the process's root), because it looks for
// the directory's real ancestors. It only reads identities; nothing is
// ever opened for anything but O_PATH.
func Place(dirfd int, stop func(id FileID, depth int) bool) (int, error) {
	cur, err := unix.Dup(dirfd)
	if err != nil {
		return 0, err
	}
	defer func() { unix.Close(cur) }()
	prev := FileID{}
	for depth := 0; depth < MaxPlaceDepth; depth++ {
		id, err := IDOf(cur)
		if err != nil {
			return 0, err
		}
		if stop(id, depth) {
			return depth, nil
		}
		if depth > 0 && id == prev {
			return 0, ErrNotPlaced // ".." of the root is the root
		}
		prev = id
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		unix.Close(cur)
		cur = up
	}
	return 0, unix.ELOOP
}
