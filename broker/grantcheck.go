package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"golang.org/x/sys/unix"
)

// A grant whose directory cannot be opened used to let the broker start,
// and then every client it matched got a bare "connection reset by peer",
// the reason only in the broker's log. Now the broker refuses to start
// with such a grant (CheckGrants, from New and `capfd broker`), and a
// grant that is allowed to appear later (Grant.Optional), or one that
// went away after the start, refuses the client with the reason.

// GrantError is a grant whose directory cannot be opened. It unwraps to
// the system call's errno, so errors.Is(err, fs.ErrNotExist) and the like
// hold.
type GrantError struct {
	Rule   string // the policy rule, "" for ServeConn's grants
	Grant  string
	Path   string
	Reason string // "missing", "not a directory", "dangling symlink to ...", ...
	Err    error
}

func (e *GrantError) Error() string {
	s := fmt.Sprintf("grant %q (%s): %s", e.Grant, e.Path, e.Reason)
	if e.Rule != "" {
		s = fmt.Sprintf("client %q: %s", e.Rule, s)
	}
	return s
}

func (e *GrantError) Unwrap() error { return e.Err }

// CheckGrants opens the directory of every grant that is not Optional,
// as a client's connection would, and reports each that cannot be opened.
func (p *Policy) CheckGrants() error {
	var errs []error
	for _, r := range p.Rules {
		for _, g := range r.Grants {
			if g.Optional {
				continue
			}
			d, err := capfd.OpenDir(g.Path, g.Rights)
			if err != nil {
				errs = append(errs, grantError(r.Name, g, err))
				continue
			}
			d.Close()
		}
	}
	return errors.Join(errs...)
}

// grantError says why g's directory could not be opened, in the words an
// operator fixes a configuration by.
func grantError(rule string, g Grant, err error) *GrantError {
	e := &GrantError{Rule: rule, Grant: g.Name, Path: g.Path, Err: err}
	var errno unix.Errno
	if errors.As(err, &errno) {
		e.Err = errno
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.Reason = "missing"
		if target, lerr := os.Readlink(g.Path); lerr == nil {
			e.Reason = fmt.Sprintf("dangling symlink (to %q)", target)
		}
	case errors.Is(err, unix.ENOTDIR):
		e.Reason = "not a directory"
		if fi, serr := os.Stat(g.Path); serr == nil {
			e.Reason = fmt.Sprintf("not a directory (a %s)", fileKind(fi.Mode()))
		}
	case errors.Is(err, unix.ELOOP):
		e.Reason = "symlink loop"
	case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
		e.Reason = "the broker is out of file descriptors: " + causeMessage(err)
	default:
		e.Reason = "cannot be opened: " + causeMessage(err)
	}
	return e
}

func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "regular file"
	case fs.ModeNamedPipe:
		return "FIFO"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "character device"
	case fs.ModeDevice:
		return "block device"
	}
	return m.Type().String()
}

// refusal is the error reply for a client whose grants could not all be
// opened: a limit when the broker is out of descriptors, else a refusal.
func (e *GrantError) refusal() error {
	re := &replyError{code: wire.CodeRefused, errno: unix.EACCES, msg: e.Error()}
	var errno unix.Errno
	if errors.As(e.Err, &errno) {
		re.errno = errno
	}
	if errno == unix.EMFILE || errno == unix.ENFILE {
		re.code = wire.CodeLimit
	}
	return re
}
