package broker

import (
	"fmt"
	"strings"
	"sync"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// outcome is what dispatch produced for one request.
type outcome struct {
	rep     wire.Reply
	sent    bool   // the reply (with a descriptor) is already sent
	err     error  // send this error instead
	release func() // return buffers rep.Data uses, after the send
	name    string // the handle's name, for the audit log
}

// knownResolve are the resolution bits a client may add.
const knownResolve = vfsops.NoXDev | vfsops.NoSymlinks | vfsops.InRoot

// Read buffers come in two sizes, so that the common small read does not
// pin a maximal buffer per request in flight.
const smallData = 16 << 10

var (
	smallDataBufs = sync.Pool{New: func() any { b := make([]byte, smallData); return &b }}
	largeDataBufs = sync.Pool{New: func() any { b := make([]byte, wire.MaxMessage); return &b }}
)

// dataBuf returns a buffer of at least n bytes and the function that gives
// it back.
func dataBuf(n int) ([]byte, func()) {
	pool := &largeDataBufs
	if n <= smallData {
		pool = &smallDataBufs
	}
	bufp := pool.Get().(*[]byte)
	return (*bufp)[:n], func() { pool.Put(bufp) }
}

// dispatch serves one request. Every operation goes through a capfd.Served
// method, which checks the handle's rights before any system call; the
// broker's own checks here are about the request's shape (handle exists,
// is the right kind, sizes within limits).
func (c *clientConn) dispatch(req *wire.Request) outcome {
	s, ok := c.table.get(req.Handle)
	if !ok {
		return outcome{err: errBadHandle(fmt.Sprintf("no handle %d", req.Handle))}
	}
	out := c.dispatchTo(s, req)
	out.name = s.Name()
	return out
}

func (c *clientConn) dispatchTo(s *capfd.Served, req *wire.Request) (out outcome) {
	if vfsops.Resolve(req.Resolve)&^knownResolve != 0 {
		out.err = errBadRequest(fmt.Sprintf("unknown resolve flags %#x", req.Resolve))
		return out
	}
	how := vfsops.Resolve(req.Resolve)
	maxData := c.srv.cfg.Limits.MaxMessage - wire.HeaderSize - 16
	if err := privilegeCheck(req); err != nil {
		out.err = err
		return out
	}

	switch req.Op {
	case wire.OpClose:
		if s, ok := c.table.remove(req.Handle); ok {
			out.err = s.Close()
		}

	case wire.OpOpen:
		if req.Pair.Inherit != 0 {
			out.err = errBadRequest("a file handle has no inherit rights")
			return out
		}
		ns, err := s.Open(req.Path, int(req.SysFlags), req.Mode, how, req.Pair.Base)
		return c.newHandle(req, ns, err)
	case wire.OpOpenDir:
		ns, err := s.OpenDir(req.Path, how, req.Pair)
		return c.newHandle(req, ns, err)
	case wire.OpReopen:
		if req.Pair.Inherit != 0 {
			out.err = errBadRequest("a file handle has no inherit rights")
			return out
		}
		ns, err := s.Reopen(int(req.SysFlags), req.Pair.Base)
		return c.newHandle(req, ns, err)
	case wire.OpDup:
		ns, err := s.Dup(req.Pair)
		return c.newHandle(req, ns, err)
	case wire.OpFd:
		out.err = s.WithFd(func(fd int) error {
			return c.sendReply(&wire.Reply{ID: req.ID, Op: req.Op, Handle: req.Handle}, fd)
		})
		out.sent = out.err == nil
	case wire.OpExec:
		out.err = s.WithExecFd(func(fd int) error {
			return c.sendReply(&wire.Reply{ID: req.ID, Op: req.Op, Handle: req.Handle}, fd)
		})
		out.sent = out.err == nil

	case wire.OpMkdir:
		out.err = s.Mkdir(req.Path, req.Mode, how)
	case wire.OpUnlink:
		out.err = s.Unlink(req.Path, how)
	case wire.OpRmdir:
		out.err = s.Rmdir(req.Path, how)
	case wire.OpSymlink:
		out.err = s.Symlink(req.Path2, req.Path, how)
	case wire.OpReadlink:
		out.rep.Text, out.err = s.Readlink(req.Path, how)
	case wire.OpStat:
		var st unix.Stat_t
		st, out.err = s.Stat(req.Path, how, req.Follow)
		out.rep.Stat = capfd.StatToWire(&st)
	case wire.OpChmod:
		out.err = s.Chmod(req.Path, req.Mode, how)
	case wire.OpChown:
		out.err = s.Chown(req.Path, int(req.UID), int(req.GID), how, req.Follow)
	case wire.OpChtimes:
		out.err = s.Chtimes(req.Path, ts(req.Atime), ts(req.Mtime), how, req.Follow)
	case wire.OpTruncate:
		out.err = s.Truncate(req.Path, req.Offset, how)
	case wire.OpRename, wire.OpLink:
		to, ok := c.table.get(req.Handle2)
		if !ok {
			out.err = errBadHandle(fmt.Sprintf("no handle %d", req.Handle2))
			return out
		}
		if req.Op == wire.OpRename {
			out.err = s.Rename(req.Path, to, req.Path2, uint(req.SysFlags), how)
		} else {
			out.err = s.Link(req.Path, to, req.Path2, how)
		}
	case wire.OpBindMount:
		// Served checks mount on the source and lookup|mount on the target
		// before open_tree; the mount lands in the broker's own mount
		// namespace (docs/broker.md).
		to, ok := c.table.get(req.Handle2)
		if !ok {
			out.err = errBadHandle(fmt.Sprintf("no handle %d", req.Handle2))
			return out
		}
		out.err = s.BindMount(to, req.Path, how)

	case wire.OpFstat:
		var st unix.Stat_t
		st, out.err = s.Fstat()
		out.rep.Stat = capfd.StatToWire(&st)
	case wire.OpFtruncate:
		out.err = s.Ftruncate(req.Offset)
	case wire.OpFchmod:
		out.err = s.Fchmod(req.Mode)
	case wire.OpFchown:
		out.err = s.Fchown(int(req.UID), int(req.GID))
	case wire.OpFutimes:
		out.err = s.Futimes(ts(req.Atime), ts(req.Mtime))
	case wire.OpSync:
		out.err = s.Fsync()
	case wire.OpLock:
		out.err = s.Flock(int(req.SysFlags))
	case wire.OpSeek:
		var pos int64
		pos, out.err = s.Seek(req.Offset, int(req.SysFlags))
		out.rep.Offset = pos
	case wire.OpRead, wire.OpPread, wire.OpReaddir:
		if int64(req.Count) > int64(maxData) {
			out.err = errLimit(fmt.Sprintf("read of %d bytes exceeds the %d-byte message limit", req.Count, maxData))
			return out
		}
		var p []byte
		p, out.release = dataBuf(int(req.Count))
		var n int
		switch req.Op {
		case wire.OpRead:
			n, out.err = s.Read(p)
		case wire.OpPread:
			n, out.err = s.Pread(p, req.Offset)
		default:
			n, out.err = s.ReadDirents(p)
		}
		out.rep.Data = p[:n]
	case wire.OpWrite:
		var n int
		n, out.err = s.Write(req.Data)
		out.rep.Offset = int64(n)
	case wire.OpPwrite:
		var n int
		n, out.err = s.Pwrite(req.Data, req.Offset)
		out.rep.Offset = int64(n)
	case wire.OpXattrGet:
		out.rep.Data, out.err = s.Getxattr(req.Name)
		if out.err == nil && len(out.rep.Data) > maxData {
			out.err = &replyError{code: wire.CodeLimit, errno: unix.E2BIG, msg: fmt.Sprintf("attribute of %d bytes exceeds the message limit", len(out.rep.Data))}
		}
	case wire.OpXattrSet:
		out.err = s.Setxattr(req.Name, req.Data, int(req.SysFlags))
	case wire.OpXattrList:
		out.rep.Names, out.err = s.Listxattr()
	case wire.OpXattrRemove:
		out.err = s.Removexattr(req.Name)
	default:
		out.err = &replyError{code: wire.CodeUnsupported, errno: unix.EOPNOTSUPP, msg: fmt.Sprintf("op %v is not served", req.Op)}
	}
	return out
}

// privilegeCheck refuses what would turn the broker's credentials into the
// client's: the broker usually runs as root, and the files it creates and
// changes are changed as root. A setuid or setgid bit set by the broker
// makes a program that runs with the broker's identity; a security.* or
// trusted.* extended attribute (security.capability, an SELinux label)
// grants privileges the same way. Rights say which operations a client may
// ask for; they never extend to minting privilege, so these are refused
// (not quietly stripped) whatever the rights.
func privilegeCheck(req *wire.Request) error {
	const privBits = unix.S_ISUID | unix.S_ISGID
	switch req.Op {
	case wire.OpOpen:
		creates := req.SysFlags&unix.O_CREAT != 0 || req.SysFlags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0
		if creates && req.Mode&privBits != 0 {
			return errPrivilege("mode %#o: the broker does not create setuid or setgid files", req.Mode)
		}
	case wire.OpMkdir, wire.OpChmod, wire.OpFchmod:
		if req.Mode&privBits != 0 {
			return errPrivilege("mode %#o: the broker does not set setuid or setgid bits", req.Mode)
		}
	case wire.OpXattrSet, wire.OpXattrRemove:
		if !strings.HasPrefix(req.Name, "user.") {
			return errPrivilege("attribute %q: the broker changes only user.* attributes", req.Name)
		}
	}
	return nil
}

func errPrivilege(format string, args ...any) error {
	return &replyError{code: wire.CodeErrno, errno: unix.EPERM, msg: fmt.Sprintf(format, args...)}
}

// newHandle records a handle an operation created and answers with its
// number, kind and rights (and its descriptor, if asked for and allowed).
func (c *clientConn) newHandle(req *wire.Request, ns *capfd.Served, err error) (out outcome) {
	if err != nil {
		out.err = err
		return out
	}
	h, ok := c.table.add(ns)
	if !ok {
		ns.Close()
		out.err = &replyError{code: wire.CodeLimit, errno: unix.EMFILE, msg: fmt.Sprintf("client holds its limit of %d handles", c.srv.cfg.Limits.MaxHandles)}
		return out
	}
	kind := wire.HandleFile
	if ns.IsDir() {
		kind = wire.HandleDir
	}
	out.rep = wire.Reply{NewHandle: h, HandleKind: kind, Pair: ns.Rights()}
	if req.Flags&wire.FlagWantFD != 0 {
		// The descriptor goes only if Served allows it (access mode within
		// the rights); if not, the handle alone is the answer and a later
		// Fd request gets the reason.
		rep := out.rep
		rep.ID, rep.Op, rep.Handle = req.ID, req.Op, req.Handle
		if ns.WithFd(func(fd int) error { return c.sendReply(&rep, fd) }) == nil {
			out.sent = true
		}
	}
	return out
}

func ts(t wire.Timespec) unix.Timespec { return unix.Timespec{Sec: t.Sec, Nsec: t.Nsec} }
