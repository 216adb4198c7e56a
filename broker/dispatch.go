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

// dispatch serves one request. Every operation goes through a Served
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

func (c *clientConn) dispatchTo(s *Served, req *wire.Request) outcome {
	if vfsops.Resolve(req.Resolve)&^knownResolve != 0 {
		return outcome{err: errBadRequest(fmt.Sprintf("unknown resolve flags %#x", req.Resolve))}
	}
	h := handlerFor(req.Op)
	if h.privilege != nil {
		if err := h.privilege(req); err != nil {
			return outcome{err: err}
		}
	}
	if h.serve == nil {
		// Fail closed: an op without a handler (hello after the
		// handshake, or one the decoder let through by mistake) is
		// refused, never served by a default.
		return outcome{err: &replyError{code: wire.CodeUnsupported, errno: unix.EOPNOTSUPP, msg: fmt.Sprintf("op %v is not served", req.Op)}}
	}
	return h.serve(c, s, req, vfsops.Resolve(req.Resolve))
}

// maxData is the most bytes a reply's data may carry within the
// configured message limit.
func (c *clientConn) maxData() int { return wire.MaxData(c.srv.cfg.Limits.MaxMessage) }

// noInherit refuses inherit rights for an op that makes a file handle,
// which has no entries to pass them to.
func noInherit(req *wire.Request) error {
	if req.Pair.Inherit != 0 {
		return errBadRequest("a file handle has no inherit rights")
	}
	return nil
}

// second returns the handle a two-handle op (rename, link, bind-mount)
// names in Handle2.
func (c *clientConn) second(req *wire.Request) (*Served, error) {
	to, ok := c.table.get(req.Handle2)
	if !ok {
		return nil, errBadHandle(fmt.Sprintf("no handle %d", req.Handle2))
	}
	return to, nil
}

// sendFD answers with the descriptor with(fn) passes (Fd, Exec); on
// success the reply is already sent.
func (c *clientConn) sendFD(req *wire.Request, with func(func(fd int) error) error) (out outcome) {
	out.err = with(func(fd int) error {
		return c.sendReply(nil, &wire.Reply{ID: req.ID, Op: req.Op, Handle: req.Handle}, fd)
	})
	out.sent = out.err == nil
	return out
}

// readInto serves a read-like op into a pooled buffer of the size asked
// for, within the message limit.
func (c *clientConn) readInto(req *wire.Request, read func(p []byte) (int, error)) (out outcome) {
	if maxData := c.maxData(); int64(req.Count) > int64(maxData) {
		out.err = errLimit(fmt.Sprintf("read of %d bytes exceeds the %d-byte message limit", req.Count, maxData))
		return out
	}
	var p []byte
	p, out.release = dataBuf(int(req.Count))
	var n int
	n, out.err = read(p)
	out.rep.Data = p[:n]
	return out
}

// done is the outcome of an op whose reply carries nothing.
func done(err error) outcome { return outcome{err: err} }

func statOutcome(st unix.Stat_t, err error) outcome {
	return outcome{rep: wire.Reply{Stat: capfd.StatToWire(&st)}, err: err}
}

func wrote(n int, err error) outcome { return outcome{rep: wire.Reply{Offset: int64(n)}, err: err} }

// privilegeCheck refuses what would turn the broker's credentials into the
// client's: the broker usually runs as root, and the files it creates and
// changes are changed as root. A setuid or setgid bit set by the broker
// makes a program that runs with the broker's identity; a security.* or
// trusted.* extended attribute (security.capability, an SELinux label)
// grants privileges the same way. Rights say which operations a client may
// ask for; they never extend to minting privilege, so these are refused
// (not quietly stripped) whatever the rights. The handler table names the
// check for each op it applies to, and dispatch runs it before the op.
const privBits = unix.S_ISUID | unix.S_ISGID

// createsPrivileged refuses an open that creates a setuid or setgid file.
func createsPrivileged(req *wire.Request) error {
	creates := req.SysFlags&unix.O_CREAT != 0 || req.SysFlags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0
	if creates && req.Mode&privBits != 0 {
		return errPrivilege("mode %#o: the broker does not create setuid or setgid files", req.Mode)
	}
	return nil
}

// setsPrivileged refuses a mode with the setuid or setgid bit.
func setsPrivileged(req *wire.Request) error {
	if req.Mode&privBits != 0 {
		return errPrivilege("mode %#o: the broker does not set setuid or setgid bits", req.Mode)
	}
	return nil
}

// privilegedXattr refuses every attribute outside user.*.
func privilegedXattr(req *wire.Request) error {
	if !strings.HasPrefix(req.Name, "user.") {
		return errPrivilege("attribute %q: the broker changes only user.* attributes", req.Name)
	}
	return nil
}

func errPrivilege(format string, args ...any) error {
	return &replyError{code: wire.CodeErrno, errno: unix.EPERM, msg: fmt.Sprintf(format, args...)}
}

// newHandle records a handle an operation created and answers with its
// number, kind and rights (and its descriptor, if asked for and allowed).
func (c *clientConn) newHandle(req *wire.Request, ns *Served, err error) (out outcome) {
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
		if ns.WithFd(func(fd int) error { return c.sendReply(nil, &rep, fd) }) == nil {
			out.sent = true
		}
	}
	return out
}

func ts(t wire.Timespec) unix.Timespec { return unix.Timespec{Sec: t.Sec, Nsec: t.Nsec} }
