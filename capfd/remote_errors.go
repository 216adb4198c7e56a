package capfd

import (
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// BrokerError is an error the broker reported that is not a plain errno:
// a limit, a protocol error, an unsupported operation. It unwraps to the
// errno the broker chose, so errors.Is works on it as on a local error.
type BrokerError struct {
	Code    wire.Code
	Errno   unix.Errno
	Message string
}

func (e *BrokerError) Error() string { return "broker " + e.Code.String() + ": " + e.Message }
func (e *BrokerError) Unwrap() error { return e.Errno }

// remoteSentinelError rebuilds vfsops' escape and bad-name errors on the
// client side: errors.Is matches the sentinel and the errno.
type remoteSentinelError struct {
	sentinel error
	errno    unix.Errno
	message  string
}

func (e *remoteSentinelError) Error() string        { return e.message }
func (e *remoteSentinelError) Is(target error) bool { return target == e.sentinel }
func (e *remoteSentinelError) Unwrap() error        { return e.errno }

// remoteError rebuilds, on the client, the error a local handle would have
// returned, so that errors.Is(err, ErrNotCapable), errors.Is(err,
// fs.ErrNotExist) and errors.Is(err, ErrEscape) hold across the broker.
func remoteError(op wire.Op, er *wire.ErrorReply) error {
	errno := unix.Errno(er.Errno)
	switch er.Code {
	case wire.CodeErrno:
		if errno != 0 {
			return errno
		}
	case wire.CodeNotCapable:
		return &Error{Op: op.String(), Path: "(broker)", Needed: er.Needed, Held: er.Held, Err: ErrNotCapable}
	case wire.CodeEscape:
		return &remoteSentinelError{sentinel: vfsops.ErrEscape, errno: errno, message: er.Message}
	case wire.CodeBadName:
		return &remoteSentinelError{sentinel: vfsops.ErrBadName, errno: errno, message: er.Message}
	}
	return &BrokerError{Code: er.Code, Errno: errno, Message: er.Message}
}

// connError is the error of every call on a connection that is over. The
// broker says why it closes a connection (an error reply with request id
// 0: idle timeout, shutdown, ...) before it does; the reason is kept as
// the cause so that errors.Is matches its errno, and ErrBrokerClosed
// matches whatever the cause.
type connError struct {
	context string
	cause   error
}

func (e *connError) Error() string        { return e.context + ": " + e.cause.Error() }
func (e *connError) Is(target error) bool { return target == ErrBrokerClosed }
func (e *connError) Unwrap() error        { return e.cause }
