package capfd

import (
	"errors"
	"io/fs"
	"os"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// ErrNotCapable reports that a handle lacks a right an operation needs. It is
// always wrapped in an *Error that names the operation, the path and the
// rights, and it is returned before any system call is made: the filesystem
// is never touched by a refused operation.
var ErrNotCapable = errors.New("not capable")

// ErrEscape reports that a path, or a symlink met while resolving it, would
// leave the directory it is resolved in. It is vfsops.ErrEscape itself, so
// errors.Is matches either name, whichever layer made the refusal. The
// escapes this package returns also match fs.ErrPermission (and keep
// their errno, EXDEV or ELOOP), so that generic io/fs code treats them as
// the refusals they are: http.FileServerFS answers 403, not 500. Test for
// ErrEscape before fs.ErrPermission to tell them from missing rights.
var ErrEscape = vfsops.ErrEscape

// ErrNotLocal reports that an operation needs the object itself, which a
// handle served by a broker does not hold in this process.
var ErrNotLocal = errors.New("not a local handle")

// Error is a refusal for lack of rights. It matches ErrNotCapable, and
// fs.ErrPermission too (errors.Is), so that generic io/fs code treats it
// as the permission error it is: http.FileServerFS answers 403, not 500.
type Error struct {
	Op     string        // the operation: "open", "mkdir", "read", ...
	Path   string        // the path or handle name the operation was for
	Needed rights.Rights // every right the operation needs on this handle
	Held   rights.Rights // what the handle holds (for opens: what it may grant)
	Err    error         // ErrNotCapable

	// ceiling is set when Held is a directory's inherit rights rather than
	// the rights the handle itself holds, so that the message does not
	// suggest the directory lacks the right for itself.
	ceiling bool
}

func (e *Error) Error() string {
	held := "holds"
	if e.ceiling {
		held = "may grant"
	}
	return "capfd: " + e.Op + " " + e.Path + ": " + e.Err.Error() +
		": missing " + e.Held.Missing(e.Needed).String() +
		" (needs " + e.Needed.String() + "; " + held + " " + e.Held.String() + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes a refusal for lack of rights match fs.ErrPermission as well as
// its cause (Unwrap: ErrNotCapable).
func (e *Error) Is(target error) bool { return target == fs.ErrPermission }

// escapeRefusal is an escape as this package returns it: the cause (which
// matches ErrEscape and its errno) and fs.ErrPermission too; see ErrEscape.
type escapeRefusal struct{ err error }

func (e *escapeRefusal) Error() string        { return e.err.Error() }
func (e *escapeRefusal) Is(target error) bool { return target == fs.ErrPermission }
func (e *escapeRefusal) Unwrap() error        { return e.err }

// refusal is err, an escape made to match fs.ErrPermission too.
func refusal(err error) error {
	if errors.Is(err, ErrEscape) && !errors.Is(err, fs.ErrPermission) {
		return &escapeRefusal{err}
	}
	return err
}

func notCapable(op, path string, needed, held rights.Rights) error {
	return &Error{Op: op, Path: path, Needed: needed, Held: held, Err: ErrNotCapable}
}

func notGrantable(op, path string, needed, ceiling rights.Rights) error {
	return &Error{Op: op, Path: path, Needed: needed, Held: ceiling, Err: ErrNotCapable, ceiling: true}
}

// pathError puts capfd's operation name and the caller's path on an error
// from a transport. vfsops already returns *fs.PathError; its op is the
// system call's name and its path may be an internal one (a parent fd's
// final component), so only the cause is kept, under the caller's names.
// Anything else (an escape wrapped in context by vfsops, a broker error) is
// kept whole as the cause.
func pathError(op, path string, err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		err = e.Err
	case *os.LinkError:
		err = e.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: refusal(err)}
}

func linkError(op, oldPath, newPath string, err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		err = e.Err
	case *os.LinkError:
		err = e.Err
	}
	return &os.LinkError{Op: op, Old: oldPath, New: newPath, Err: refusal(err)}
}

func closedError(op, path string) error {
	return &fs.PathError{Op: op, Path: path, Err: fs.ErrClosed}
}
