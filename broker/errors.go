package broker

import (
	"errors"
	"io/fs"
	"os"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// replyError is an error the broker makes itself (bad handle, limit,
// malformed request), with the code and errno the client gets.
type replyError struct {
	code  wire.Code
	errno unix.Errno
	msg   string
}

func (e *replyError) Error() string { return e.msg }

func errLimit(msg string) error {
	return &replyError{code: wire.CodeLimit, errno: unix.EAGAIN, msg: msg}
}

func errBadHandle(msg string) error {
	return &replyError{code: wire.CodeBadHandle, errno: unix.EBADF, msg: msg}
}

func errBadRequest(msg string) error {
	return &replyError{code: wire.CodeProtocol, errno: unix.EINVAL, msg: msg}
}

// causeMessage is the text of err without the *fs.PathError and
// *os.LinkError layers: the client puts its own operation and path around
// the cause, and would otherwise print them twice.
func causeMessage(err error) string {
	for {
		switch e := err.(type) {
		case *fs.PathError:
			err = e.Err
		case *os.LinkError:
			err = e.Err
		default:
			return err.Error()
		}
	}
}

// toWire classifies err for the error reply, keeping the errno so the
// client can rebuild an error that errors.Is matches as a local one would.
func toWire(err error) wire.ErrorReply {
	er := wire.ErrorReply{Message: causeMessage(err)}
	var errno unix.Errno
	hasErrno := errors.As(err, &errno)
	var re *replyError
	var ce *capfd.Error
	switch {
	case errors.As(err, &re):
		er.Code, errno, hasErrno = re.code, re.errno, true
	case errors.As(err, &ce):
		er.Code, er.Needed, er.Held = wire.CodeNotCapable, ce.Needed, ce.Held
		errno, hasErrno = unix.EPERM, true
	case errors.Is(err, vfsops.ErrEscape):
		er.Code = wire.CodeEscape
		if !hasErrno {
			errno, hasErrno = unix.EXDEV, true
		}
	case errors.Is(err, vfsops.ErrBadName):
		er.Code = wire.CodeBadName
	case errors.Is(err, fs.ErrClosed):
		er.Code, errno, hasErrno = wire.CodeBadHandle, unix.EBADF, true
	default:
		er.Code = wire.CodeErrno
	}
	if !hasErrno {
		// Not from a system call (an internal failure): EIO is the
		// honest errno for "the server could not do it".
		errno = unix.EIO
	}
	er.Errno = uint32(errno)
	return er
}
