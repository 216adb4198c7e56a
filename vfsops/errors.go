package vfsops

import (
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrEscape reports that a path, or a symlink met while resolving it, would
// leave the directory it is resolved in: "..", an absolute path or symlink
// (without [InRoot]), a magic link such as /proc/self/fd/N, a mount crossing
// under [NoXDev], or a directory moved out from under a walk.
//
// It is distinct from permission errors on purpose: a refused escape is an
// attack or a bug in the caller's path handling, not a missing right.
var ErrEscape = errors.New("path escapes from the directory")

// ErrBadName reports a malformed path: empty, containing a NUL byte, or (for
// entry operations) a final component of "", "." or "..".
var ErrBadName = errors.New("bad file name")

// escapeError is an ErrEscape that keeps the kernel errno it came from, so
// that errors.Is(err, unix.EXDEV) and errors.Is(err, ErrEscape) both hold.
type escapeError struct {
	why   string
	errno unix.Errno
}

func (e *escapeError) Error() string        { return ErrEscape.Error() + ": " + e.why }
func (e *escapeError) Is(target error) bool { return target == ErrEscape }
func (e *escapeError) Unwrap() error        { return e.errno }

func escape(why string, errno unix.Errno) error { return &escapeError{why: why, errno: errno} }

// badNameError is an ErrBadName that keeps the errno the kernel would have
// given (ENOENT for "", EINVAL for NUL, ...), so os.IsNotExist and friends
// keep working on it.
type badNameError struct {
	why   string
	errno unix.Errno
}

func (e *badNameError) Error() string        { return ErrBadName.Error() + ": " + e.why }
func (e *badNameError) Is(target error) bool { return target == ErrBadName }
func (e *badNameError) Unwrap() error        { return e.errno }

func badName(why string, errno unix.Errno) error { return &badNameError{why: why, errno: errno} }

func pathError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

func linkError(op, oldpath, newpath string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: op, Old: oldpath, New: newpath, Err: err}
}

// fdError wraps an error of an operation on an fd with no path.
func fdError(op string, fd int, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: "fd:" + strconv.Itoa(fd), Err: err}
}
