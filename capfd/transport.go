package capfd

import (
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// handleID names one open handle inside a transport: for the local
// transport it is the file descriptor itself; for a remote transport it is
// whatever the broker's handle table uses (a handle number, perhaps paired
// with an fd the broker passed over SCM_RIGHTS). Dir and File never look
// inside it; they only hand it back to the transport that issued it.
type handleID uint64

// transport is what a Dir or a File talks to. It has one method per vfsops
// operation, taking the handle's transport-level reference plus the
// operation's arguments, and returning results and the references of new
// handles. Two implementations exist or will exist:
//
//   - localTransport (local.go): calls vfsops directly, in this process.
//   - a remote transport (remote*.go, written with the broker): sends each
//     call as one request of the wire protocol and returns the reply.
//
// # Who checks rights
//
// Dir and File check every call against the handle's rights, using the
// vfsops operation table, BEFORE calling the transport, so both transports
// share one set of checks and a refused call never reaches a system call or
// the wire. The transport must not trust that: a remote transport's server
// (the broker) keeps its own table of handle -> rights and checks every
// request again, because the client process may be compromised and call it
// with anything. The local transport does not check again: in-process, the
// caller already holds the fd and could make the system call itself.
//
// # Rights of new handles
//
// Methods that create a handle (Open, OpenDir, Reopen, Dup) take the rights
// the new handle is to carry. The caller has already checked that they are
// within what the parent may grant; a remote server must check the same
// rules itself (Open and OpenDir: within the parent's Inherit; Reopen and
// Dup: within the handle's own rights) and record them for the new handle.
//
// # Conventions
//
//   - Paths are relative to the directory handle and are resolved beneath
//     it with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS plus how, exactly as
//     the vfsops function of the same name does. Escapes return errors
//     matching vfsops.ErrEscape.
//   - Errors are returned as the vfsops functions return them (*fs.PathError
//     or *os.LinkError around an errno or ErrEscape); Dir and File re-label
//     them with their own operation name and the caller's path. A remote
//     transport should rebuild the same errno or sentinel on the client
//     side, so that errors.Is(err, fs.ErrNotExist) and friends hold.
//   - The dir argument of the entry operations is usually a Dir's handle,
//     but Stat is also called with a File handle that is an open directory
//     (DirEntry.Info of File.ReadDir, checked on the File's lookup|stat),
//     and Reopen with a Dir's handle and O_RDONLY|O_DIRECTORY (Dir.ReadDir
//     of "."; checked on the Dir's Base: lookup|readdir). A server must
//     apply the same operand rules to whichever kind of handle it gets.
//   - Every new handle the transport returns is owned by the caller, who
//     will call Close on it exactly once. Close must release it even if
//     other calls on it fail.
//   - All methods may be called concurrently, on the same or different
//     handles, except that no call is made on a handle after its Close
//     (Dir and File guarantee this with a reference count).
type transport interface {
	// Open opens path beneath dir with open(2) flags and mode; O_CLOEXEC is
	// always added. r: the rights of the new file handle.
	Open(dir handleID, path string, flags int, mode uint32, how vfsops.Resolve, r rights.Rights) (handleID, error)
	// OpenDir opens path beneath dir as a new directory handle
	// (O_PATH|O_DIRECTORY) with rights r.
	OpenDir(dir handleID, path string, how vfsops.Resolve, r rights.Pair) (handleID, error)
	// Reopen opens the object h refers to afresh with flags (a new open
	// file description, with its own offset), as vfsops.Reopen does. It
	// works on directory handles too: Dir uses it, with
	// O_RDONLY|O_DIRECTORY, to read its own entries. r: the new handle's
	// rights, within h's own.
	Reopen(h handleID, flags int, r rights.Rights) (handleID, error)
	// Dup returns a second handle to the same open object (dup(2): shared
	// offset) carrying rights r, within h's own. A File handle's rights
	// travel in r.Base, with r.Inherit empty. Limit is built on it.
	Dup(h handleID, r rights.Pair) (handleID, error)
	// Close releases h.
	Close(h handleID) error
	// Fd returns a file descriptor for h in this process, for fd passing.
	// A remote transport returns the fd the broker passed for h, or an
	// error if it holds none.
	Fd(h handleID) (int, error)

	// Entry operations: act on path, resolved beneath dir.
	Mkdir(dir handleID, path string, mode uint32, how vfsops.Resolve) error
	Unlink(dir handleID, path string, how vfsops.Resolve) error
	Rmdir(dir handleID, path string, how vfsops.Resolve) error
	// Rename is renameat2 with flags (0 or unix.RENAME_NOREPLACE; a remote
	// server must refuse other flags, or check their rights itself).
	Rename(oldDir handleID, oldPath string, newDir handleID, newPath string, flags uint, how vfsops.Resolve) error
	Link(oldDir handleID, oldPath string, newDir handleID, newPath string, how vfsops.Resolve) error
	// Symlink creates path beneath dir pointing to target. target is stored
	// verbatim: it is only ever resolved beneath a directory later.
	Symlink(target string, dir handleID, path string, how vfsops.Resolve) error
	Readlink(dir handleID, path string, how vfsops.Resolve) (string, error)
	// Stat is stat (follow) or lstat (!follow) of path beneath dir.
	Stat(dir handleID, path string, how vfsops.Resolve, follow bool) (unix.Stat_t, error)
	Chmod(dir handleID, path string, mode uint32, how vfsops.Resolve) error
	Chown(dir handleID, path string, uid, gid int, how vfsops.Resolve, follow bool) error
	// Chtimes sets access and modification times; a Nsec of
	// unix.UTIME_OMIT leaves that time unchanged.
	Chtimes(dir handleID, path string, atime, mtime unix.Timespec, how vfsops.Resolve, follow bool) error
	// Truncate truncates the regular file at path (following symlinks
	// beneath dir) to size.
	Truncate(dir handleID, path string, size int64, how vfsops.Resolve) error

	// Operations on the open object h.
	Fstat(h handleID) (unix.Stat_t, error)
	Ftruncate(h handleID, size int64) error
	Fchmod(h handleID, mode uint32) error
	Fchown(h handleID, uid, gid int) error
	Futimes(h handleID, atime, mtime unix.Timespec) error
	Fsync(h handleID) error
	// Flock is flock(2): how is LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB.
	Flock(h handleID, how int) error
	Read(h handleID, p []byte) (int, error)
	Write(h handleID, p []byte) (int, error)
	Pread(h handleID, p []byte, off int64) (int, error)
	Pwrite(h handleID, p []byte, off int64) (int, error)
	Seek(h handleID, off int64, whence int) (int64, error)
	// ReadDirents fills buf with linux_dirent64 records (getdents64), which
	// the caller parses with vfsops.ParseDirents. 0 means the end.
	ReadDirents(h handleID, buf []byte) (int, error)
	Getxattr(h handleID, name string) ([]byte, error)
	Setxattr(h handleID, name string, value []byte, flags int) error
	Listxattr(h handleID) ([]string, error)
	Removexattr(h handleID, name string) error
	// Exec executes the file h refers to (execveat with AT_EMPTY_PATH);
	// it returns only on failure.
	Exec(h handleID, argv, envv []string) error
	// BindMount bind-mounts the object h refers to onto targetPath beneath
	// targetDir (open_tree + move_mount: the object itself, not a path).
	BindMount(h handleID, targetDir handleID, targetPath string, how vfsops.Resolve) error
}
