package wire

import (
	"github.com/capfd/capfd/rights"
)

// Timespec is a time as seconds and nanoseconds since the epoch. Nsec may
// carry UTIME_NOW or UTIME_OMIT for chtimes.
type Timespec struct{ Sec, Nsec int64 }

// Request is a decoded request: the header's routing fields and the body
// fields its op's schema names. Fields outside the schema stay zero.
type Request struct {
	ID     uint32
	Op     Op
	Handle uint32
	Flags  Flags

	VersionMin, VersionMax uint8         // Hello
	Requested              rights.Rights // Hello: rights the client wants to know about
	Handle2                uint32        // Rename, Link, BindMount: the target directory handle
	Path                   string
	Path2                  string // Rename, Link: new path; Symlink: the link's target text
	SysFlags               uint32 // open/reopen flags, seek whence, flock how, xattr flags
	Mode                   uint32
	Resolve                uint8
	Follow                 bool
	Offset                 int64 // offset or size
	Count                  uint32
	UID, GID               int32
	Atime, Mtime           Timespec
	Pair                   rights.Pair // Open, OpenDir, Reopen, Dup: the new handle's rights (files use Base)
	Name                   string      // xattr name
	Data                   []byte      // Write, Pwrite, XattrSet: aliases the message buffer
}

// HandleKind says what a new handle refers to.
type HandleKind uint8

const (
	HandleDir  HandleKind = 1
	HandleFile HandleKind = 2
)

// Limits are the broker's per-connection limits, told to the client in the
// handshake so a well-behaved client never trips them.
type Limits struct {
	MaxMessage  uint32
	MaxHandles  uint32
	MaxInflight uint32
}

// Root is a directory capability granted at connection time.
type Root struct {
	Name   string
	Handle uint32
	Rights rights.Pair
}

// Stat is the subset of struct stat the protocol carries.
type Stat struct {
	Dev, Ino, Nlink     uint64
	Mode, UID, GID      uint32
	Rdev                uint64
	Size, Blksize       int64
	Blocks              int64
	Atime, Mtime, Ctime Timespec
}

// Reply is a decoded reply. Err is set, and nothing else but the routing
// fields, when the message is an error reply.
type Reply struct {
	ID     uint32
	Op     Op
	Handle uint32
	Err    *ErrorReply

	Version    uint8         // Hello
	Answer     rights.Answer // Hello
	Limits     Limits        // Hello
	NewHandle  uint32        // Open, OpenDir, Reopen, Dup
	HandleKind HandleKind    // Open, OpenDir, Reopen, Dup
	Pair       rights.Pair   // the new handle's rights
	Offset     int64         // Seek: new offset; Write, Pwrite: bytes written
	Stat       Stat
	Data       []byte // Read, Pread, XattrGet, Readdir; aliases the message buffer
	Text       string
	Names      []string
	Roots      []Root
}

// ErrorReply is the body of an error reply.
type ErrorReply struct {
	Errno   uint32
	Code    Code
	Needed  rights.Rights // CodeNotCapable: what the operation needs
	Held    rights.Rights // CodeNotCapable: what the handle holds (or may grant)
	Message string
}

// Negotiate picks the version to speak with a peer that speaks min..max.
func Negotiate(min, max uint8) (uint8, bool) {
	if min > max || max < MinVersion || min > MaxVersion {
		return 0, false
	}
	if max > MaxVersion {
		return MaxVersion, true
	}
	return max, true
}
