// Package servebridge is the bridge between package capfd, which implements
// the checked operations on its handles, and package broker, which serves
// them to clients over the wire protocol.
//
// A broker serves each client request with one system call on one of its
// own handles, after checking it against the rights it recorded for the
// client: exactly what Dir and File do for their own methods, but at the
// level of the transport (one call per wire op, a file handle's single
// read or write, resolve options and the new handle's rights chosen per
// request) rather than of os-like methods. That level is of use to a
// server only, so it is not part of capfd's public API; it lives in capfd,
// unexported, because it is Dir's and File's own code (one implementation
// of every check, local or served), and reaches the broker through this
// package, which only this module can import.
//
// Nothing here checks anything: Handle's methods are capfd's.
package servebridge

import (
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Handle is a local Dir or File as a server calls it. Each method checks
// the handle's rights for its operation, as the vfsops table says, before
// its system call, and names the handle or path as the client knows it.
// extra: resolve options added to the handle's own (they only tighten).
type Handle interface {
	IsDir() bool
	// Rights returns the handle's rights; a file's are in Base.
	Rights() rights.Pair
	Name() string
	Close() error

	// Open opens a file beneath a directory handle with rights r, which
	// must lie within what the open may grant and hold what flags need.
	Open(path string, flags int, mode uint32, extra vfsops.Resolve, r rights.Rights) (Handle, error)
	OpenDir(path string, extra vfsops.Resolve, r rights.Pair) (Handle, error)
	// Reopen opens the handle's object afresh as a file handle with
	// rights r, within the handle's own (a directory's Base).
	Reopen(flags int, r rights.Rights) (Handle, error)
	Dup(r rights.Pair) (Handle, error)

	Mkdir(path string, mode uint32, extra vfsops.Resolve) error
	Unlink(path string, extra vfsops.Resolve) error
	Rmdir(path string, extra vfsops.Resolve) error
	Symlink(target, path string, extra vfsops.Resolve) error
	Readlink(path string, extra vfsops.Resolve) (string, error)
	// Stat works on a file handle that is an open directory too.
	Stat(path string, extra vfsops.Resolve, follow bool) (unix.Stat_t, error)
	Chmod(path string, mode uint32, extra vfsops.Resolve) error
	Chown(path string, uid, gid int, extra vfsops.Resolve, follow bool) error
	Chtimes(path string, atime, mtime unix.Timespec, extra vfsops.Resolve, follow bool) error
	Truncate(path string, size int64, extra vfsops.Resolve) error
	// Rename takes renameat2 flags 0 or RENAME_NOREPLACE; without unlink
	// on the target directory it always adds RENAME_NOREPLACE.
	Rename(oldPath string, to Handle, newPath string, flags uint, extra vfsops.Resolve) error
	Link(oldPath string, to Handle, newPath string, extra vfsops.Resolve) error
	// BindMount mounts the handle's object onto targetPath beneath to, in
	// the serving process's mount namespace.
	BindMount(to Handle, targetPath string, extra vfsops.Resolve) error

	// The operations on the handle itself, one system call each.
	Fstat() (unix.Stat_t, error)
	Ftruncate(size int64) error
	Fchmod(mode uint32) error
	Fchown(uid, gid int) error
	Futimes(atime, mtime unix.Timespec) error
	Fsync() error
	Flock(how int) error
	Read(p []byte) (int, error)
	Pread(p []byte, off int64) (int, error)
	Write(p []byte) (int, error)
	Pwrite(p []byte, off int64) (int, error)
	Seek(off int64, whence int) (int64, error)
	ReadDirents(buf []byte) (int, error)
	Getxattr(name string) ([]byte, error)
	Setxattr(name string, value []byte, flags int) error
	Listxattr() ([]string, error)
	Removexattr(name string) error

	// Check refuses op on the handle itself unless it holds what op
	// needs.
	Check(opName string, op vfsops.Op) error
	// WithFd calls fn with the handle's descriptor, held open while fn
	// runs (a concurrent Close waits). It checks no rights: whether the
	// descriptor may be passed is the server's decision.
	WithFd(opName string, fn func(fd int) error) error
}

// Dir is the local directory capability a server serves (a *capfd.Dir).
type Dir interface {
	Name() string
	Rights() rights.Pair
	Close() error
}

// ServeDir serves d, a local *capfd.Dir, under name: the name the client
// knows it by, used in error messages instead of d's path in the server's
// file system, which is none of the client's business. The Handle takes
// ownership of d. Set by package capfd.
var ServeDir func(d Dir, name string) Handle
