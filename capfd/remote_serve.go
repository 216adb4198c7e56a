package capfd

import (
	"fmt"
	"sync/atomic"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Served is a local handle as a broker serves it to a remote client. The
// broker keeps one per client handle and calls the method named after the
// transport operation the client asked for.
//
// Served is the server half of the remote transport: the client's Dir and
// File check rights before they send a request, and Served checks them
// again, with the same helpers (need, openNeeds) against the rights the
// broker recorded, because the client may be compromised and send
// anything. Every check comes before the system call. The system calls are
// those of the local transport, so a brokered operation runs exactly the
// code a local one does.
type Served struct {
	dir  *Dir  // set for directory handles
	file *File // set for file handles

	regular atomic.Int32 // 0 unknown, 1 a regular file, 2 something else

	// places, when set, makes every path operation placed by identity
	// (remote_serve_place.go); root is the handle's own directory.
	places *Places
	root   vfsops.FileID
	// grant is the client grant the handle's directory lies in: its own
	// root when it is one, else the nearest granted ancestor.
	grant vfsops.FileID
	// final marks a placed directory's handle (placedAt.ps): the names
	// it is given are single final entries that placement has decided,
	// so it never places again.
	final bool
}

// Regular reports whether s is an open regular file, whose reads and
// writes finish in bounded time (unlike a FIFO's or a device's). The
// answer is cached: an open file's type never changes.
func (s *Served) Regular() bool {
	switch s.regular.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	if s.file == nil {
		s.regular.Store(2)
		return false
	}
	t, h, done, err := s.acquire("fstat")
	if err != nil {
		return false
	}
	defer done()
	st, err := t.Fstat(h)
	if err != nil {
		return false
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		s.regular.Store(1)
		return true
	}
	s.regular.Store(2)
	return false
}

// ServeDir serves d under name: the name the client knows it by, used in
// error messages instead of d's path in the broker's file system, which is
// none of the client's business. The Served takes ownership of d: closing
// it closes d.
func ServeDir(d *Dir, name string) *Served {
	d.name = name
	return &Served{dir: d}
}

// IsDir reports whether s is a directory handle.
func (s *Served) IsDir() bool { return s.dir != nil }

// Rights returns s's rights; a file's are in Base, with Inherit empty.
func (s *Served) Rights() rights.Pair {
	if s.dir != nil {
		return s.dir.rights
	}
	return rights.Pair{Base: s.file.rights}
}

// Name returns the name s was opened with, for logs.
func (s *Served) Name() string {
	if s.dir != nil {
		return s.dir.name
	}
	return s.file.name
}

// Close releases s.
func (s *Served) Close() error {
	if s.dir != nil {
		return s.dir.Close()
	}
	return s.file.Close()
}

// handleRights is what s may do to itself: a directory's Base, a file's
// rights.
func (s *Served) handleRights() rights.Rights {
	if s.dir != nil {
		return s.dir.rights.Base
	}
	return s.file.rights
}

// acquire pins s's transport handle for one call; release undoes it.
func (s *Served) acquire(opName string) (transport, handleID, func(), error) {
	if s.dir != nil {
		if err := s.dir.use(opName, s.dir.name); err != nil {
			return nil, 0, nil, err
		}
		return s.dir.t, s.dir.h, s.dir.done, nil
	}
	if err := s.file.use(opName); err != nil {
		return nil, 0, nil, err
	}
	return s.file.t, s.file.h, s.file.done, nil
}

// checkSelf refuses op on s itself unless s holds what it needs.
func (s *Served) checkSelf(opName string, op vfsops.Op) error {
	n := need(op, vfsops.OnHandle)
	if held := s.handleRights(); !held.Has(n) {
		return notCapable(opName, s.Name(), n, held)
	}
	return nil
}

// asDir returns s's Dir, or an error for an entry operation on a file.
func (s *Served) asDir(opName, path string) (*Dir, error) {
	if s.dir == nil {
		return nil, pathError(opName, path, unix.ENOTDIR)
	}
	return s.dir, nil
}

// how is the resolution of a path beneath d: d's own options plus whatever
// the client adds. The client can tighten resolution, never loosen it.
func how(d *Dir, extra Resolve) Resolve { return d.how | extra }

// Open opens a file beneath s, as transport.Open, with rights r. Besides
// what Dir.OpenFile checks, r itself must lie within s's Inherit and hold
// what the flags need: otherwise a client could open O_RDWR while
// recording read-only rights, and later be passed a writable descriptor.
func (s *Served) Open(path string, flags int, mode uint32, extra Resolve, r rights.Rights) (*Served, error) {
	d, err := s.asDir("open", path)
	if err != nil {
		return nil, err
	}
	if s.placing() {
		return s.placedOpen(path, flags, mode, extra, r)
	}
	fileNeed, _ := openNeeds(flags)
	if err := d.check("open", openRequest(flags), vfsops.OnDir, path); err != nil {
		return nil, err
	}
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
	if err := d.use("open", path); err != nil {
		return nil, err
	}
	defer d.done()
	h, err := d.t.Open(d.h, path, flags|unix.O_CLOEXEC, mode, how(d, extra), r)
	if err != nil {
		return nil, pathError("open", path, err)
	}
	if err := openTyped(d.t, h, "open", path, flags, r); err != nil {
		return nil, err
	}
	return &Served{file: newFile(d.t, h, r, path, flags, how(d, extra))}, nil
}

// OpenDir opens a directory beneath s with rights r, within s's Inherit.
func (s *Served) OpenDir(path string, extra Resolve, r rights.Pair) (*Served, error) {
	d, err := s.asDir("opendir", path)
	if err != nil {
		return nil, err
	}
	if s.placing() {
		return s.placedOpenDir(path, extra, r)
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
	h, err := d.t.OpenDir(d.h, path, how(d, extra), r)
	if err != nil {
		return nil, pathError("opendir", path, err)
	}
	return &Served{dir: &Dir{t: d.t, h: h, rights: r, how: how(d, extra), name: path}}, nil
}

// Reopen opens s's object afresh with flags as a file handle with rights
// r. The flags need what they would need to open the object (checked
// against s's own rights, and against r), as in File.Reopen; a directory
// reopening itself with O_DIRECTORY needs readdir, as Dir.ReadDir does.
func (s *Served) Reopen(flags int, r rights.Rights) (*Served, error) {
	// O_TMPFILE includes O_DIRECTORY's bit: test only its own.
	if flags&(unix.O_CREAT|unix.O_EXCL|(unix.O_TMPFILE&^unix.O_DIRECTORY)) != 0 {
		return nil, pathError("reopen", s.Name(), unix.EINVAL)
	}
	fileNeed, _ := vfsops.OpenRights(flags)
	n := fileNeed | need(vfsops.OpReopen, vfsops.OnHandle)
	held := s.handleRights()
	if !held.Has(n.Union(r)) {
		return nil, notCapable("reopen", s.Name(), n.Union(r), held)
	}
	if !r.Has(fileNeed) {
		return nil, notCapable("reopen", s.Name(), fileNeed, r)
	}
	t, h, done, err := s.acquire("reopen")
	if err != nil {
		return nil, err
	}
	defer done()
	nh, err := t.Reopen(h, flags|unix.O_CLOEXEC, r)
	if err != nil {
		return nil, pathError("reopen", s.Name(), err)
	}
	var resolve Resolve
	if s.dir != nil {
		resolve = s.dir.how
	} else {
		resolve = s.file.how
	}
	return &Served{file: newFile(t, nh, r, s.Name(), flags, resolve)}, nil
}

// Dup returns a second handle to s's object with rights r within s's, as
// Dir.Limit and File.Limit do.
func (s *Served) Dup(r rights.Pair) (*Served, error) {
	if s.dir != nil {
		d, err := s.dir.Limit(r)
		if err != nil {
			return nil, err
		}
		return &Served{dir: d, places: s.places, root: s.root, grant: s.grant}, nil
	}
	if r.Inherit != 0 {
		return nil, notCapable("limit", s.Name(), r.Inherit, 0)
	}
	f, err := s.file.Limit(r.Base)
	if err != nil {
		return nil, err
	}
	return &Served{file: f}, nil
}

// WithFd calls fn with s's descriptor for passing to the client, after checking
// that the descriptor's access mode is within what s's rights allow
// (vfsops.AccessModeFor). It refuses:
//
//   - O_PATH descriptors (every directory handle): anyone holding one can
//     reopen it through /proc/self/fd with any access mode the file's
//     permissions allow, which is the upgrade attack;
//   - append-only handles: fcntl(F_SETFL) clears O_APPEND, so the client
//     could rewrite what it may only append to. They are served through the
//     broker only.
//
// The descriptor stays owned by s and stays open while fn runs (a
// concurrent Close waits), so fn can send it without racing a reuse of
// its number.
func (s *Served) WithFd(fn func(fd int) error) error {
	if s.dir != nil {
		return pathError("fd", s.Name(), fmt.Errorf("%w: directory handles are O_PATH, which is never passed", unix.EPERM))
	}
	t, h, done, err := s.acquire("fd")
	if err != nil {
		return err
	}
	defer done()
	fd, err := t.Fd(h)
	if err != nil {
		return pathError("fd", s.Name(), err)
	}
	fl, err := vfsops.StatusFlags(fd)
	if err != nil {
		return pathError("fd", s.Name(), err)
	}
	if err := passable(fl, s.file.rights); err != nil {
		return pathError("fd", s.Name(), err)
	}
	return fn(fd)
}

// passable checks an open file description's status flags against rights.
func passable(fl int, r rights.Rights) error {
	if fl&unix.O_PATH != 0 {
		return fmt.Errorf("%w: O_PATH descriptors are never passed", unix.EPERM)
	}
	allowed, ok := vfsops.AccessModeFor(r)
	if !ok {
		return fmt.Errorf("%w: rights %v allow no data access", unix.EPERM, r)
	}
	if allowed&unix.O_APPEND != 0 {
		return fmt.Errorf("%w: append-only handles are served through the broker only", unix.EPERM)
	}
	readable := func(m int) bool { return m&unix.O_ACCMODE == unix.O_RDONLY || m&unix.O_ACCMODE == unix.O_RDWR }
	writable := func(m int) bool { return m&unix.O_ACCMODE == unix.O_WRONLY || m&unix.O_ACCMODE == unix.O_RDWR }
	if fl&unix.O_ACCMODE == unix.O_ACCMODE ||
		readable(fl) && !readable(allowed) || writable(fl) && !writable(allowed) {
		return fmt.Errorf("%w: descriptor mode %#o exceeds what rights %v allow", unix.EPERM, fl&unix.O_ACCMODE, r)
	}
	return nil
}

// WithExecFd calls fn with a descriptor the client may execveat: s's own, which
// needs the exec right. An O_PATH descriptor is passed here, and only
// here, because execveat needs no more: the exec right is what the
// holder was given. (Without the kernel layer, a client could reopen it
// through /proc; the BPF LSM refuses that for marked clients.)
func (s *Served) WithExecFd(fn func(fd int) error) error {
	if err := s.checkSelf("exec", vfsops.OpExec); err != nil {
		return err
	}
	if s.dir != nil {
		return pathError("exec", s.Name(), unix.EACCES)
	}
	t, h, done, err := s.acquire("exec")
	if err != nil {
		return err
	}
	defer done()
	fd, err := t.Fd(h)
	if err != nil {
		return pathError("exec", s.Name(), err)
	}
	fl, err := vfsops.StatusFlags(fd)
	if err != nil {
		return pathError("exec", s.Name(), err)
	}
	if fl&unix.O_PATH == 0 {
		if err := passable(fl, s.file.rights); err != nil {
			return pathError("exec", s.Name(), err)
		}
	}
	return fn(fd)
}
