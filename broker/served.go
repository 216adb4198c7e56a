package broker

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/servebridge"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Served is a local handle as the broker serves it to a client: one entry
// of a client's handle table. The broker calls the method named after the
// op the client asked for.
//
// Served is the server half of the remote transport. The client's Dir and
// File check rights before they send a request; Served checks them again
// against the rights the broker recorded, because the client may be
// compromised and send anything. The checks, and the system calls after
// them, are capfd's own (the embedded servebridge.Handle: Dir's and File's
// variants, internal/servebridge), so a brokered operation runs exactly the
// code a local one does. What is the broker's is here: the handles a
// client holds and the names it knows them by, whether a descriptor may be
// passed to it (WithFd, WithExecFd), what a refused mount means, and
// whether a handle's I/O can block (Regular).
type Served struct {
	servebridge.Handle
	regular atomic.Int32 // 0 unknown, 1 a regular file, 2 something else
}

// serveDir serves d under name: the name the client knows it by, used in
// error messages instead of d's path in the broker's file system, which is
// none of the client's business. The Served takes ownership of d: closing
// it closes d.
func serveDir(d *capfd.Dir, name string) *Served {
	return &Served{Handle: servebridge.ServeDir(d, name)}
}

// serveGrant serves a client's grant d under name, placing its operations
// with p (capfd.NewPlaces over all the client's grants), so that rights
// follow the object reached (docs/broker.md).
func serveGrant(d *capfd.Dir, name string, p *capfd.Places) *Served {
	p.Place(d)
	return serveDir(d, name)
}

// wrap makes a handle an operation created a Served.
func wrap(h servebridge.Handle, err error) (*Served, error) {
	if err != nil {
		return nil, err
	}
	return &Served{Handle: h}, nil
}

func (s *Served) Open(path string, flags int, mode uint32, extra vfsops.Resolve, r rights.Rights) (*Served, error) {
	return wrap(s.Handle.Open(path, flags, mode, extra, r))
}

func (s *Served) OpenDir(path string, extra vfsops.Resolve, r rights.Pair) (*Served, error) {
	return wrap(s.Handle.OpenDir(path, extra, r))
}

func (s *Served) Reopen(flags int, r rights.Rights) (*Served, error) {
	return wrap(s.Handle.Reopen(flags, r))
}

func (s *Served) Dup(r rights.Pair) (*Served, error) { return wrap(s.Handle.Dup(r)) }

func (s *Served) Rename(oldPath string, to *Served, newPath string, flags uint, extra vfsops.Resolve) error {
	return s.Handle.Rename(oldPath, to.Handle, newPath, flags, extra)
}

func (s *Served) Link(oldPath string, to *Served, newPath string, extra vfsops.Resolve) error {
	return s.Handle.Link(oldPath, to.Handle, newPath, extra)
}

// BindMount bind-mounts s's object (a file or a directory handle) onto
// targetPath beneath the directory handle to, as File.BindMount and
// Dir.BindMount do: s needs mount on itself, to needs lookup and mount
// (the vfsops table's two operands), and both are checked before any
// system call. The mount is made in the broker's mount namespace, not the
// client's.
func (s *Served) BindMount(to *Served, targetPath string, extra vfsops.Resolve) error {
	return mountPrivilege(s.Handle.BindMount(to.Handle, targetPath, extra))
}

// mountPrivilege says why the kernel refused: open_tree(OPEN_TREE_CLONE)
// and move_mount fail with EPERM when the caller lacks CAP_SYS_ADMIN over
// its mount namespace, which, once the rights have passed, is a fact about
// how the broker was started, not about the client's request.
func mountPrivilege(err error) error {
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(le.Err, unix.EPERM) {
		return err
	}
	le.Err = fmt.Errorf("the serving process lacks CAP_SYS_ADMIN over its mount namespace: %w", le.Err)
	return err
}

// Regular reports whether s is an open regular file, whose reads and
// writes finish in bounded time (unlike a FIFO's or a device's). The
// answer is cached: an open file's type never changes. It is the broker's
// own question, not the client's, so no right is checked.
func (s *Served) Regular() bool {
	switch s.regular.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	if s.IsDir() {
		s.regular.Store(2)
		return false
	}
	var st unix.Stat_t
	if err := s.Handle.WithFd("fstat", func(fd int) (err error) {
		st, err = vfsops.Fstat(fd)
		return err
	}); err != nil {
		return false
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		s.regular.Store(1)
		return true
	}
	s.regular.Store(2)
	return false
}
