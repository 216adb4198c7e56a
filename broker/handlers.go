package broker

import (
	"fmt"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// opHandler is what the broker does with one op. The protocol's facts
// about an op (its name, body, descriptor rule and the vfsops operation it
// performs) are wire's op table; these are the broker's, and
// TestHandlersMatchOpTable checks the two tables against each other and
// against vfsops'.
type opHandler struct {
	// serve performs the op on s, the handle the request names, after the
	// resolve flags and privilege have been checked. nil: the op is not
	// served here, and why says where it is.
	serve func(c *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome
	why   string
	// privilege, if set, refuses a request that would have the broker
	// mint privilege (see privilegeCheck's doc in dispatch.go).
	privilege func(req *wire.Request) error
	// mayBlock, if set, reports whether req can wait on something outside
	// the broker for an unbounded time: a lock held elsewhere, a FIFO's
	// other end, a pipe's data. Only those are watched for the handoff
	// (see handoffAfter); the others finish in a bounded time on a local
	// file system.
	mayBlock func(c *clientConn, req *wire.Request) bool
}

// handlers is indexed by wire op, as the protocol's own table is. An op
// out of range or without an entry gets the zero opHandler, which dispatch
// refuses (fail closed).
var handlers = [wire.OpEnd]opHandler{
	wire.OpHello: {why: "the handshake (readHello) answers it; after that the reader refuses it"},
	// Close removes the handle from the table first, so that no later
	// request finds it while it closes.
	wire.OpClose: {serve: func(c *clientConn, _ *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		if s, ok := c.table.remove(req.Handle); ok {
			return done(s.Close())
		}
		return outcome{}
	}},
	wire.OpDup: {serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		ns, err := s.Dup(req.Pair)
		return c.newHandle(req, ns, err)
	}},
	wire.OpOpen: {
		serve: func(c *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
			if err := noInherit(req); err != nil {
				return done(err)
			}
			ns, err := s.Open(req.Path, int(req.SysFlags), req.Mode, how, req.Pair.Base)
			return c.newHandle(req, ns, err)
		},
		privilege: createsPrivileged,
		mayBlock:  openMayBlock,
	},
	wire.OpOpenDir: {serve: func(c *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		ns, err := s.OpenDir(req.Path, how, req.Pair)
		return c.newHandle(req, ns, err)
	}},
	wire.OpReopen: {
		serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			if err := noInherit(req); err != nil {
				return done(err)
			}
			ns, err := s.Reopen(int(req.SysFlags), req.Pair.Base)
			return c.newHandle(req, ns, err)
		},
		mayBlock: openMayBlock,
	},
	wire.OpFd: {serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		return c.sendFD(req, s.WithFd)
	}},
	wire.OpExec: {serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		return c.sendFD(req, s.WithExecFd)
	}},

	wire.OpMkdir: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
			return done(s.Mkdir(req.Path, req.Mode, how))
		},
		privilege: setsPrivileged,
	},
	wire.OpUnlink: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		return done(s.Unlink(req.Path, how))
	}},
	wire.OpRmdir: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		return done(s.Rmdir(req.Path, how))
	}},
	wire.OpSymlink: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		return done(s.Symlink(req.Path2, req.Path, how))
	}},
	wire.OpReadlink: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		text, err := s.Readlink(req.Path, how)
		return outcome{rep: wire.Reply{Text: text}, err: err}
	}},
	wire.OpStat: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		return statOutcome(s.Stat(req.Path, how, req.Follow))
	}},
	wire.OpChmod: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
			return done(s.Chmod(req.Path, req.Mode, how))
		},
		privilege: setsPrivileged,
	},
	wire.OpChown: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		return done(s.Chown(req.Path, int(req.UID), int(req.GID), how, req.Follow))
	}},
	wire.OpChtimes: {serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		return done(s.Chtimes(req.Path, ts(req.Atime), ts(req.Mtime), how, req.Follow))
	}},
	// Truncation and sync are watched whatever the file: they wait on the
	// file system itself (and a truncate by path opens the file).
	wire.OpTruncate: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
			return done(s.Truncate(req.Path, req.Offset, how))
		},
		mayBlock: always,
	},
	wire.OpRename: {serve: func(c *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		to, err := c.second(req)
		if err != nil {
			return done(err)
		}
		return done(s.Rename(req.Path, to, req.Path2, uint(req.SysFlags), how))
	}},
	wire.OpLink: {serve: func(c *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		to, err := c.second(req)
		if err != nil {
			return done(err)
		}
		return done(s.Link(req.Path, to, req.Path2, how))
	}},
	// Served checks mount on the source and lookup|mount on the target
	// before open_tree; the mount lands in the broker's own mount
	// namespace (docs/broker.md).
	wire.OpBindMount: {serve: func(c *clientConn, s *Served, req *wire.Request, how vfsops.Resolve) outcome {
		to, err := c.second(req)
		if err != nil {
			return done(err)
		}
		return done(s.BindMount(to, req.Path, how))
	}},

	wire.OpFstat: {serve: func(_ *clientConn, s *Served, _ *wire.Request, _ vfsops.Resolve) outcome {
		return statOutcome(s.Fstat())
	}},
	wire.OpFtruncate: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return done(s.Ftruncate(req.Offset))
		},
		mayBlock: always,
	},
	wire.OpFchmod: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return done(s.Fchmod(req.Mode))
		},
		privilege: setsPrivileged,
	},
	wire.OpFchown: {serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		return done(s.Fchown(int(req.UID), int(req.GID)))
	}},
	wire.OpFutimes: {serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		return done(s.Futimes(ts(req.Atime), ts(req.Mtime)))
	}},
	wire.OpSync: {
		serve: func(_ *clientConn, s *Served, _ *wire.Request, _ vfsops.Resolve) outcome {
			return done(s.Fsync())
		},
		mayBlock: always,
	},
	wire.OpLock: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return done(s.Flock(int(req.SysFlags)))
		},
		mayBlock: func(_ *clientConn, req *wire.Request) bool { return req.SysFlags&unix.LOCK_NB == 0 },
	},
	wire.OpSeek: {serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		pos, err := s.Seek(req.Offset, int(req.SysFlags))
		return outcome{rep: wire.Reply{Offset: pos}, err: err}
	}},
	wire.OpRead: {
		serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return c.readInto(req, s.Read)
		},
		mayBlock: ioMayBlock,
	},
	wire.OpPread: {
		serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return c.readInto(req, func(p []byte) (int, error) { return s.Pread(p, req.Offset) })
		},
		mayBlock: ioMayBlock,
	},
	wire.OpReaddir: {serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
		return c.readInto(req, s.ReadDirents)
	}},
	wire.OpWrite: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return wrote(s.Write(req.Data))
		},
		mayBlock: ioMayBlock,
	},
	wire.OpPwrite: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return wrote(s.Pwrite(req.Data, req.Offset))
		},
		mayBlock: ioMayBlock,
	},
	wire.OpXattrGet: {serve: func(c *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) (out outcome) {
		out.rep.Data, out.err = s.Getxattr(req.Name)
		if out.err == nil && len(out.rep.Data) > c.maxData() {
			out.err = &replyError{code: wire.CodeLimit, errno: unix.E2BIG, msg: fmt.Sprintf("attribute of %d bytes exceeds the message limit", len(out.rep.Data))}
		}
		return out
	}},
	wire.OpXattrSet: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return done(s.Setxattr(req.Name, req.Data, int(req.SysFlags)))
		},
		privilege: privilegedXattr,
	},
	wire.OpXattrList: {serve: func(_ *clientConn, s *Served, _ *wire.Request, _ vfsops.Resolve) outcome {
		names, err := s.Listxattr()
		return outcome{rep: wire.Reply{Names: names}, err: err}
	}},
	wire.OpXattrRemove: {
		serve: func(_ *clientConn, s *Served, req *wire.Request, _ vfsops.Resolve) outcome {
			return done(s.Removexattr(req.Name))
		},
		privilege: privilegedXattr,
	},
}

// handlerFor returns op's entry; the zero entry (no handler) for an op out
// of range.
func handlerFor(op wire.Op) opHandler {
	if op >= wire.OpEnd {
		return opHandler{}
	}
	return handlers[op]
}

func always(*clientConn, *wire.Request) bool { return true }

// An open waits for a FIFO's other end unless it is non-blocking; an
// O_PATH open opens nothing and never waits.
func openMayBlock(_ *clientConn, req *wire.Request) bool {
	return req.SysFlags&unix.O_NONBLOCK == 0 && req.SysFlags&unix.O_PATH == 0
}

// I/O on a regular file finishes; on a pipe, socket or device it waits for
// the other side. A handle not found is counted as one that may block:
// only what is known to be a regular file takes the unwatched path.
func ioMayBlock(c *clientConn, req *wire.Request) bool {
	s, ok := c.table.get(req.Handle)
	return !ok || !s.Regular()
}
