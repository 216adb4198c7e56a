package broker

import (
	"fmt"
	"io/fs"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// WithFd calls fn with s's descriptor for passing to the client, after
// checking that the descriptor's access mode is within what s's rights
// allow (vfsops.AccessModeFor). It refuses:
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
	if s.IsDir() {
		return &fs.PathError{Op: "fd", Path: s.Name(), Err: fmt.Errorf("%w: directory handles are O_PATH, which is never passed", unix.EPERM)}
	}
	return s.Handle.WithFd("fd", func(fd int) error {
		fl, err := vfsops.StatusFlags(fd)
		if err != nil {
			return &fs.PathError{Op: "fd", Path: s.Name(), Err: err}
		}
		if err := passable(fl, s.Rights().Base); err != nil {
			return &fs.PathError{Op: "fd", Path: s.Name(), Err: err}
		}
		return fn(fd)
	})
}

// WithExecFd calls fn with a descriptor the client may execveat: s's own,
// which needs the exec right. An O_PATH descriptor is passed here, and only
// here, because execveat needs no more: the exec right is what the holder
// was given. (Without the kernel layer, a client could reopen it through
// /proc; the BPF LSM refuses that for marked clients.)
func (s *Served) WithExecFd(fn func(fd int) error) error {
	if err := s.Check("exec", vfsops.OpExec); err != nil {
		return err
	}
	if s.IsDir() {
		return &fs.PathError{Op: "exec", Path: s.Name(), Err: unix.EACCES}
	}
	return s.Handle.WithFd("exec", func(fd int) error {
		fl, err := vfsops.StatusFlags(fd)
		if err != nil {
			return &fs.PathError{Op: "exec", Path: s.Name(), Err: err}
		}
		if fl&unix.O_PATH == 0 {
			if err := passable(fl, s.Rights().Base); err != nil {
				return &fs.PathError{Op: "exec", Path: s.Name(), Err: err}
			}
		}
		return fn(fd)
	})
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
