package vfsops

import (
	"os"

	"golang.org/x/sys/unix"
)

// MakePrivateDir makes a new directory beneath root (os.MkdirTemp with
// pattern: mode 0700, the caller's) and returns its path, an O_PATH
// descriptor of it and its filesystem's device number. For trusted
// configuration only: root is the caller's choice, never a confined
// program's.
func MakePrivateDir(root, pattern string) (dir string, fd int, dev uint64, err error) {
	dir, err = os.MkdirTemp(root, pattern)
	if err != nil {
		return "", -1, 0, err
	}
	fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return "", -1, 0, pathError("open", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		os.Remove(dir)
		return "", -1, 0, fdError("fstat", fd, err)
	}
	return dir, fd, st.Dev, nil
}

// RemovePrivateDir closes fd and removes dir, made by MakePrivateDir,
// with whatever is left in it.
func RemovePrivateDir(dir string, fd int) {
	unix.Close(fd)
	os.RemoveAll(dir)
}

// OpenEmptyAt makes beneath dirfd the directories names[:len(names)-1],
// each inside the one before, and at their end an empty directory (isDir)
// or an empty regular file named by the last name; opens that O_RDONLY
// (close-on-exec); and removes everything it made again, so the
// descriptor is of an object with no name left. Each name is made and
// opened relative to the one before, so no string longer than a name is
// resolved, and none follows a symlink.
func OpenEmptyAt(dirfd int, names []string, isDir bool) (int, error) {
	if len(names) == 0 {
		return -1, unix.EINVAL
	}
	dirs := []int{dirfd}
	var made []string
	defer func() {
		// Deepest first, then close the chain.
		for i := len(made) - 1; i >= 0; i-- {
			unix.Unlinkat(dirs[i], made[i], unix.AT_REMOVEDIR)
		}
		for _, fd := range dirs[1:] {
			unix.Close(fd)
		}
	}()
	leaf := len(names) - 1
	for i, name := range names[:leaf] {
		if err := unix.Mkdirat(dirs[i], name, 0o700); err != nil {
			return -1, fdError("mkdirat "+name, dirs[i], err)
		}
		made = append(made, name)
		fd, err := unix.Openat(dirs[i], name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fdError("openat "+name, dirs[i], err)
		}
		dirs = append(dirs, fd)
	}
	at, name := dirs[leaf], names[leaf]
	if isDir {
		if err := unix.Mkdirat(at, name, 0o500); err != nil {
			return -1, fdError("mkdirat "+name, at, err)
		}
		fd, err := unix.Openat(at, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Unlinkat(at, name, unix.AT_REMOVEDIR)
		if err != nil {
			return -1, fdError("openat "+name, at, err)
		}
		return fd, nil
	}
	fd, err := unix.Openat(at, name, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return -1, fdError("openat "+name, at, err)
	}
	unix.Unlinkat(at, name, 0)
	return fd, nil
}

// IsDirAmbient reports whether path names a directory (following
// symlinks), resolved the ordinary way; like ExistsAmbient, for reports
// only.
func IsDirAmbient(path string) bool {
	if checkPath(path) != nil {
		return false
	}
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}
