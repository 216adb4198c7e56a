package capfd

import (
	"io/fs"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// localTransport serves handles in this process: a handleID is the file
// descriptor, and every method is the vfsops function of the same name.
// It keeps no state and checks no rights (Dir and File have checked them;
// see transport), so the rights arguments of new handles are unused.
type localTransport struct{}

var local transport = localTransport{}

func fd(h handleID) int { return int(h) }

func ids(fd int, err error) (handleID, error) {
	if err != nil {
		return 0, err
	}
	return handleID(fd), nil
}

// openAmbient opens the directory a program starts from. It is the one
// lookup capfd makes outside a capability, so it is kept apart from the
// transport: a remote client gets its first handles from the broker's
// grants instead.
func openAmbient(path string) (handleID, error) {
	return ids(vfsops.OpenDirAmbient(path))
}

func (localTransport) Open(dir handleID, path string, flags int, mode uint32, how vfsops.Resolve, _ rights.Rights) (handleID, error) {
	return ids(vfsops.OpenBeneath(fd(dir), path, flags|unix.O_CLOEXEC, mode, how))
}

func (localTransport) OpenDir(dir handleID, path string, how vfsops.Resolve, _ rights.Pair) (handleID, error) {
	return ids(vfsops.OpenBeneath(fd(dir), path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, how))
}

func (localTransport) Reopen(h handleID, flags int, _ rights.Rights) (handleID, error) {
	if flags&unix.O_DIRECTORY != 0 {
		// A directory reopens as "." beneath itself: the same inode, with
		// no trip through procfs, and ENOTDIR if h is not a directory.
		return ids(vfsops.OpenBeneath(fd(h), ".", flags|unix.O_CLOEXEC, 0, 0))
	}
	return ids(vfsops.Reopen(fd(h), flags|unix.O_CLOEXEC))
}

func (localTransport) Dup(h handleID, _ rights.Pair) (handleID, error) {
	return ids(vfsops.Dup(fd(h)))
}

func (localTransport) Close(h handleID) error { return vfsops.Close(fd(h)) }

func (localTransport) Fd(h handleID) (int, error) { return fd(h), nil }

func (localTransport) Mkdir(dir handleID, path string, mode uint32, how vfsops.Resolve) error {
	return vfsops.Mkdir(fd(dir), path, mode, how)
}

func (localTransport) Unlink(dir handleID, path string, how vfsops.Resolve) error {
	return vfsops.Unlink(fd(dir), path, how)
}

func (localTransport) Rmdir(dir handleID, path string, how vfsops.Resolve) error {
	return vfsops.Rmdir(fd(dir), path, how)
}

func (localTransport) Rename(oldDir handleID, oldPath string, newDir handleID, newPath string, flags uint, how vfsops.Resolve) error {
	if flags == 0 {
		return vfsops.Rename(fd(oldDir), oldPath, fd(newDir), newPath, how)
	}
	return vfsops.RenameFlags(fd(oldDir), oldPath, fd(newDir), newPath, flags, how)
}

func (localTransport) Link(oldDir handleID, oldPath string, newDir handleID, newPath string, how vfsops.Resolve) error {
	return vfsops.Link(fd(oldDir), oldPath, fd(newDir), newPath, how)
}

func (localTransport) Symlink(target string, dir handleID, path string, how vfsops.Resolve) error {
	return vfsops.Symlink(target, fd(dir), path, how)
}

func (localTransport) Readlink(dir handleID, path string, how vfsops.Resolve) (string, error) {
	return vfsops.Readlink(fd(dir), path, how)
}

func (localTransport) Stat(dir handleID, path string, how vfsops.Resolve, follow bool) (unix.Stat_t, error) {
	return vfsops.Stat(fd(dir), path, how, follow)
}

func (localTransport) Chmod(dir handleID, path string, mode uint32, how vfsops.Resolve) error {
	return vfsops.Chmod(fd(dir), path, mode, how)
}

func (localTransport) Chown(dir handleID, path string, uid, gid int, how vfsops.Resolve, follow bool) error {
	return vfsops.Chown(fd(dir), path, uid, gid, how, follow)
}

func (localTransport) Chtimes(dir handleID, path string, atime, mtime unix.Timespec, how vfsops.Resolve, follow bool) error {
	return vfsops.Chtimes(fd(dir), path, atime, mtime, how, follow)
}

func (localTransport) Truncate(dir handleID, path string, size int64, how vfsops.Resolve) error {
	// truncate(2) takes a path, which would be resolved without
	// RESOLVE_BENEATH. Instead: pin the inode with an O_PATH open beneath
	// dir, make sure it is a regular file (opening a device or FIFO for
	// writing can have side effects or block), and only then reopen that
	// same inode for writing. The reopen cannot be redirected: it follows
	// the fd, not the path.
	pfd, err := vfsops.OpenBeneath(fd(dir), path, unix.O_PATH|unix.O_CLOEXEC, 0, how)
	if err != nil {
		return err
	}
	defer vfsops.Close(pfd)
	st, err := vfsops.Fstat(pfd)
	if err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return &fs.PathError{Op: "truncate", Path: path, Err: unix.EISDIR}
	default:
		return &fs.PathError{Op: "truncate", Path: path, Err: unix.EINVAL}
	}
	wfd, err := vfsops.Reopen(pfd, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer vfsops.Close(wfd)
	return vfsops.Ftruncate(wfd, size)
}

func (localTransport) Fstat(h handleID) (unix.Stat_t, error) { return vfsops.Fstat(fd(h)) }

func (localTransport) Ftruncate(h handleID, size int64) error { return vfsops.Ftruncate(fd(h), size) }

func (localTransport) Fchmod(h handleID, mode uint32) error { return vfsops.Fchmod(fd(h), mode) }

func (localTransport) Fchown(h handleID, uid, gid int) error { return vfsops.Fchown(fd(h), uid, gid) }

func (localTransport) Futimes(h handleID, atime, mtime unix.Timespec) error {
	return vfsops.Futimes(fd(h), atime, mtime)
}

func (localTransport) Fsync(h handleID) error { return vfsops.Fsync(fd(h)) }

func (localTransport) Flock(h handleID, how int) error { return vfsops.Flock(fd(h), how) }

func (localTransport) Read(h handleID, p []byte) (int, error) { return vfsops.Read(fd(h), p) }

func (localTransport) Write(h handleID, p []byte) (int, error) { return vfsops.Write(fd(h), p) }

func (localTransport) Pread(h handleID, p []byte, off int64) (int, error) {
	return vfsops.Pread(fd(h), p, off)
}

func (localTransport) Pwrite(h handleID, p []byte, off int64) (int, error) {
	return vfsops.Pwrite(fd(h), p, off)
}

func (localTransport) Seek(h handleID, off int64, whence int) (int64, error) {
	return vfsops.Seek(fd(h), off, whence)
}

func (localTransport) ReadDirents(h handleID, buf []byte) (int, error) {
	return vfsops.ReadDirents(fd(h), buf)
}

func (localTransport) Getxattr(h handleID, name string) ([]byte, error) {
	return vfsops.Getxattr(fd(h), name)
}

func (localTransport) Setxattr(h handleID, name string, value []byte, flags int) error {
	return vfsops.Setxattr(fd(h), name, value, flags)
}

func (localTransport) Listxattr(h handleID) ([]string, error) { return vfsops.Listxattr(fd(h)) }

func (localTransport) Removexattr(h handleID, name string) error {
	return vfsops.Removexattr(fd(h), name)
}

func (localTransport) BindMount(h handleID, targetDir handleID, targetPath string, how vfsops.Resolve) error {
	if how != 0 {
		// vfsops.BindMount resolves the target with the default rules only;
		// quietly dropping a stricter option would widen what the caller
		// asked for.
		return &fs.PathError{Op: "bindmount", Path: targetPath, Err: unix.EOPNOTSUPP}
	}
	return vfsops.BindMount(fd(h), fd(targetDir), targetPath)
}

func (localTransport) Exec(h handleID, argv, envv []string) error {
	return vfsops.Exec(fd(h), argv, envv)
}
