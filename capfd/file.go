package capfd

import (
	"errors"
	"io"
	"sync"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// File is an open file (or directory) with the rights it carries. Every
// method checks its rights before doing anything; the access mode the file
// was opened with is enforced by the kernel on top. A File is safe for
// concurrent use in the same ways as *os.File.
type File struct {
	t      transport
	h      handleID
	rights rights.Rights
	name   string
	flags  int            // the open flags: access mode and O_APPEND matter
	how    vfsops.Resolve // for stats of directory entries
	life   lifetime

	dirMu sync.Mutex // guards dir
	dir   *dirReader // directory read state, made by the first ReadDir
}

func newFile(t transport, h handleID, r rights.Rights, name string, flags int, how vfsops.Resolve) *File {
	return &File{t: t, h: h, rights: r, name: name, flags: flags, how: how}
}

// errWriteAtInAppendMode is os's error for the same mistake: pwrite on an
// O_APPEND file appends on Linux whatever the offset says.
var errWriteAtInAppendMode = errors.New("invalid use of WriteAt on file opened with O_APPEND")

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// Rights returns the rights f carries.
func (f *File) Rights() rights.Rights { return f.rights }

// Fd returns the file descriptor behind f, or ^uintptr(0) if f is closed
// or its transport holds none.
//
// The raw descriptor escapes capability checking: a system call made on it
// is checked by the kernel's access mode only, not by f's rights. It
// exists to pass the file to another process or API (SCM_RIGHTS, exec); do
// not use it to operate on the file. It stays valid only while f is open.
func (f *File) Fd() uintptr {
	if !f.life.acquire() {
		return ^uintptr(0)
	}
	defer f.done()
	fd, err := f.t.Fd(f.h)
	if err != nil {
		return ^uintptr(0)
	}
	return uintptr(fd)
}

// Close releases f. A second Close returns an error matching fs.ErrClosed.
func (f *File) Close() error {
	first, now := f.life.close()
	if !first {
		return closedError("close", f.name)
	}
	if !now {
		return nil
	}
	if err := f.t.Close(f.h); err != nil {
		return pathError("close", f.name, err)
	}
	return nil
}

// Limit returns a new handle to the same open file (as dup(2) does: they
// share the offset) with rights r, which must lie within f's own; asking
// for more fails with ErrNotCapable. f stays open and unchanged.
func (f *File) Limit(r rights.Rights) (*File, error) {
	if !f.rights.Has(r) {
		return nil, notCapable("limit", f.name, r, f.rights)
	}
	if err := f.use("limit"); err != nil {
		return nil, err
	}
	defer f.done()
	h, err := f.t.Dup(f.h, rights.Pair{Base: r})
	if err != nil {
		return nil, pathError("limit", f.name, err)
	}
	return newFile(f.t, h, r, f.name, f.flags, f.how), nil
}

// Reopen opens the file f refers to afresh, with open flags (access mode,
// O_APPEND, O_TRUNC, O_NONBLOCK, ...), and returns it as a new File with
// f's rights. It is the one way to turn a handle into a new open file — an
// O_PATH handle into a readable one, a read-only open into a writable one —
// and it is allowed only within f's rights: the flags need exactly what
// they would need in Dir.OpenFile, checked against f's rights. The new file
// has its own offset. Creating flags (O_CREAT, O_EXCL, O_TMPFILE) are
// refused: there is nothing to create.
func (f *File) Reopen(flags int) (*File, error) { return f.reopen(flags, f.rights) }

// reopen is Reopen with the new File's rights r, within f's.
func (f *File) reopen(flags int, r rights.Rights) (*File, error) {
	if err := checkReopen(f.rights, f.name, flags, r); err != nil {
		return nil, err
	}
	if err := f.use("reopen"); err != nil {
		return nil, err
	}
	defer f.done()
	return reopened(f.t, f.h, f.name, f.how, flags, r)
}

// checkReopen refuses a reopen with flags as a File with rights r unless
// both are within held, the rights of the handle reopened (a File's, or a
// Dir's Base: a server reopens a Dir's own directory so). The flags need
// what they would need to open the object, and r must hold that too: a
// server records r for its client, which could otherwise reopen O_RDWR
// while recording read-only rights.
func checkReopen(held rights.Rights, name string, flags int, r rights.Rights) error {
	// O_TMPFILE includes O_DIRECTORY's bit: test only its own, so that a
	// plain O_DIRECTORY reopen is allowed.
	if flags&(unix.O_CREAT|unix.O_EXCL|(unix.O_TMPFILE&^unix.O_DIRECTORY)) != 0 {
		return pathError("reopen", name, unix.EINVAL)
	}
	fileNeed, _ := vfsops.OpenRights(flags)
	n := fileNeed | need(vfsops.OpReopen, vfsops.OnHandle)
	if !held.Has(n) {
		return notCapable("reopen", name, n, held)
	}
	if !held.Has(r) {
		return notCapable("reopen", name, r, held)
	}
	if !r.Has(fileNeed) {
		return notCapable("reopen", name, fileNeed, r)
	}
	return nil
}

// reopened makes the reopen checkReopen allowed; the caller holds h in use.
func reopened(t transport, h handleID, name string, how Resolve, flags int, r rights.Rights) (*File, error) {
	nh, err := t.Reopen(h, flags|unix.O_CLOEXEC, r)
	if err != nil {
		return nil, pathError("reopen", name, err)
	}
	return newFile(t, nh, r, name, flags, how), nil
}

// Read reads up to len(p) bytes, like os.File.Read; at end of file it
// returns 0, io.EOF.
func (f *File) Read(p []byte) (int, error) {
	if err := f.check("read", vfsops.OpRead); err != nil {
		return 0, err
	}
	if err := f.use("read"); err != nil {
		return 0, err
	}
	defer f.done()
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.t.Read(f.h, p)
	if err != nil {
		return max(n, 0), pathError("read", f.name, err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// ReadAt reads len(p) bytes from offset off without moving the file offset,
// like os.File.ReadAt: fewer bytes come only with an error (io.EOF at the
// end of the file).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", vfsops.OpPread); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathError("readat", f.name, errors.New("negative offset"))
	}
	if err := f.use("read"); err != nil {
		return 0, err
	}
	defer f.done()
	return f.whole("read", p, off, f.t.Pread)
}

// whole calls do on f's handle until all of p is done, off moving along
// with it, and returns how many bytes were done. An error stops it as op's
// PathError; so does a call that does nothing: for a read that is the end
// of the file (a bare io.EOF, as io.ReaderAt has it), for a write
// io.ErrShortWrite.
func (f *File) whole(op string, p []byte, off int64, do func(h handleID, p []byte, off int64) (int, error)) (int, error) {
	total := 0
	for len(p) > 0 {
		n, err := do(f.h, p, off)
		if err != nil {
			return total, pathError(op, f.name, err)
		}
		if n == 0 {
			if op == "read" {
				return total, io.EOF
			}
			return total, pathError(op, f.name, io.ErrShortWrite)
		}
		total += n
		p = p[n:]
		off += int64(n)
	}
	return total, nil
}

// writeNeed is what a write needs: write, or append for a file opened
// O_APPEND, since the kernel then appends whatever the write asks, which is
// all an append-only capability allows.
func (f *File) writeNeed() rights.Rights {
	if f.flags&unix.O_APPEND != 0 {
		return need(vfsops.OpAppend, vfsops.OnHandle)
	}
	return need(vfsops.OpWrite, vfsops.OnHandle)
}

// Write writes all of p, like os.File.Write.
func (f *File) Write(p []byte) (int, error) {
	if n := f.writeNeed(); !f.rights.Has(n) {
		return 0, notCapable("write", f.name, n, f.rights)
	}
	if err := f.use("write"); err != nil {
		return 0, err
	}
	defer f.done()
	return f.whole("write", p, 0, func(h handleID, p []byte, _ int64) (int, error) { return f.t.Write(h, p) })
}

// WriteAt writes all of p at offset off without moving the file offset.
// Like os.File.WriteAt it refuses a file opened with O_APPEND.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write", vfsops.OpPwrite); err != nil {
		return 0, err
	}
	if f.flags&unix.O_APPEND != 0 {
		return 0, errWriteAtInAppendMode
	}
	if off < 0 {
		return 0, pathError("writeat", f.name, errors.New("negative offset"))
	}
	if err := f.use("write"); err != nil {
		return 0, err
	}
	defer f.done()
	return f.whole("write", p, off, f.t.Pwrite)
}

// Seek sets the offset for the next Read or Write, like os.File.Seek. On a
// directory it also restarts ReadDir when it goes back to the start.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if err := f.check("seek", vfsops.OpSeek); err != nil {
		return 0, err
	}
	if err := f.use("seek"); err != nil {
		return 0, err
	}
	defer f.done()
	f.dirMu.Lock()
	defer f.dirMu.Unlock()
	pos, err := f.t.Seek(f.h, offset, whence)
	if err != nil {
		return 0, pathError("seek", f.name, err)
	}
	// Buffered entries belong to the old offset.
	f.dir = nil
	return pos, nil
}

func (f *File) check(opName string, op vfsops.Op) error {
	n := need(op, vfsops.OnHandle)
	if !f.rights.Has(n) {
		return notCapable(opName, f.name, n, f.rights)
	}
	return nil
}

// checkRequest is check for a request whose needs depend on more than its
// op (vfsops.Request).
func (f *File) checkRequest(opName string, req vfsops.Request) error {
	n := req.On(vfsops.OnHandle)
	if !f.rights.Has(n) {
		return notCapable(opName, f.name, n, f.rights)
	}
	return nil
}

func (f *File) use(opName string) error {
	if !f.life.acquire() {
		return closedError(opName, f.name)
	}
	return nil
}

func (f *File) done() {
	if f.life.release() {
		f.t.Close(f.h)
	}
}
