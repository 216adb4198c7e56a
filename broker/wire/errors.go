package wire

import (
	"errors"
	"fmt"
)

// ErrProtocol is wrapped by every error about a malformed message.
var ErrProtocol = errors.New("capfd wire: protocol error")

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Code classifies an error reply beyond its errno, so the client can rebuild
// the same error a local handle would have returned.
type Code uint8

const (
	CodeErrno       Code = 0 // a plain errno from the syscall
	CodeNotCapable  Code = 1 // the handle lacks rights; Needed and Held say which
	CodeEscape      Code = 2 // the path would leave its directory
	CodeBadName     Code = 3 // malformed path or final component
	CodeLimit       Code = 4 // a broker limit (handles, in-flight, size) was hit
	CodeProtocol    Code = 5 // the request was malformed
	CodeBadHandle   Code = 6 // no such handle, or the wrong kind of handle
	CodeUnsupported Code = 7 // the broker does not serve this operation
	CodeShutdown    Code = 8 // the broker is shutting down
	CodeRefused     Code = 9 // the broker's policy grants this client nothing
)

func (c Code) String() string {
	switch c {
	case CodeErrno:
		return "errno"
	case CodeNotCapable:
		return "not capable"
	case CodeEscape:
		return "escape"
	case CodeBadName:
		return "bad name"
	case CodeLimit:
		return "limit"
	case CodeProtocol:
		return "protocol"
	case CodeBadHandle:
		return "bad handle"
	case CodeUnsupported:
		return "unsupported"
	case CodeShutdown:
		return "shutdown"
	case CodeRefused:
		return "refused"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}
