package wire

import "github.com/capfd/capfd/rights"

// Minimum encoded sizes of list elements, used to reject a count that cannot
// fit before allocating for it.
const (
	minNameSize = 2          // u16 length
	minRootSize = 2 + 4 + 16 // name length, handle, pair
)

// ParseRequest decodes a whole request message. It never panics and
// allocates at most a small multiple of len(msg), whatever msg holds.
func ParseRequest(msg []byte) (Request, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return Request{}, err
	}
	r := Request{ID: h.ID, Op: h.Op, Handle: h.Handle, Flags: h.Flags}
	if err := notBatch(h); err != nil {
		return r, err
	}
	if h.Kind != KindRequest {
		return r, protocolErrorf("expected a request, got a %v", h.Kind)
	}
	if h.FDs != 0 {
		return r, protocolErrorf("requests carry no descriptors, this one claims %d", h.FDs)
	}
	sp, ok := spec(h.Op)
	if !ok {
		return r, protocolErrorf("unknown op %d", uint16(h.Op))
	}
	switch {
	case h.Flags&FlagWantFD != 0 && sp.fd != fdOnRequest:
		return r, protocolErrorf("op %v takes no want-fd flag", h.Op)
	case h.Flags&FlagNoReply != 0 && !sp.post:
		return r, protocolErrorf("op %v takes no no-reply flag", h.Op)
	}
	d := decoder{b: msg[HeaderSize:]}
	decodeRequestBody(&d, sp.request, &r)
	if err := d.finish(); err != nil {
		return r, err
	}
	return r, nil
}

// ParseReply decodes a whole reply or error-reply message. An error reply
// decodes into Reply.Err with a nil error; the error result is only for
// messages that break the protocol.
func ParseReply(msg []byte) (Reply, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{ID: h.ID, Op: h.Op, Handle: h.Handle}
	if err := notBatch(h); err != nil {
		return r, err
	}
	if h.Flags != 0 {
		return r, protocolErrorf("replies carry no flags")
	}
	d := decoder{b: msg[HeaderSize:]}
	switch h.Kind {
	case KindError:
		if h.FDs != 0 {
			return r, protocolErrorf("error replies carry no descriptors")
		}
		er := &ErrorReply{}
		er.Errno = d.u32()
		er.Code = Code(d.u8())
		er.Needed = rights.Rights(d.u64())
		er.Held = rights.Rights(d.u64())
		er.Message = d.str()
		r.Err = er
	case KindReply:
		sp, ok := spec(h.Op)
		if !ok {
			return r, protocolErrorf("unknown op %d", uint16(h.Op))
		}
		switch sp.fd {
		case fdNever:
			if h.FDs != 0 {
				return r, protocolErrorf("op %v replies carry no descriptors", h.Op)
			}
		case fdAlways:
			if h.FDs != 1 {
				return r, protocolErrorf("op %v reply must carry a descriptor", h.Op)
			}
		}
		decodeReplyBody(&d, sp.reply, &r)
	default:
		return r, protocolErrorf("expected a reply, got a %v", h.Kind)
	}
	if err := d.finish(); err != nil {
		return r, err
	}
	return r, nil
}

// notBatch refuses a batch (split by SplitBatch, never parsed as one
// message) and a message header with any version but MessageVersion, so
// that whatever decodes re-encodes to the same bytes.
func notBatch(h Header) error {
	if h.Op == OpBatch && h.Kind != KindError {
		return protocolErrorf("a batch is split into its messages (SplitBatch), not parsed as one")
	}
	if h.Version != MessageVersion {
		return protocolErrorf("a message header of version %d: only batches carry %d, every other message %d", h.Version, BatchVersion, MessageVersion)
	}
	return nil
}

func decodeRequestBody(d *decoder, schema field, r *Request) {
	for f := field(1); f != 0 && f <= schema; f <<= 1 {
		if schema&f == 0 {
			continue
		}
		switch f {
		case rqVersions:
			r.VersionMin = d.u8()
			r.VersionMax = d.u8()
		case rqRequested:
			r.Requested = rights.Rights(d.u64())
		case rqHandle2:
			r.Handle2 = d.u32()
		case rqPath:
			r.Path = d.str()
		case rqPath2:
			r.Path2 = d.str()
		case rqFlags:
			r.SysFlags = d.u32()
		case rqMode:
			r.Mode = d.u32()
		case rqResolve:
			r.Resolve = d.u8()
		case rqFollow:
			r.Follow = d.boolean()
		case rqOffset:
			r.Offset = d.i64()
		case rqCount:
			r.Count = d.u32()
		case rqOwner:
			r.UID = int32(d.u32())
			r.GID = int32(d.u32())
		case rqTimes:
			r.Atime = decodeTimespec(d)
			r.Mtime = decodeTimespec(d)
		case rqPair:
			r.Pair.Base = rights.Rights(d.u64())
			r.Pair.Inherit = rights.Rights(d.u64())
		case rqName:
			r.Name = d.str()
		case rqData:
			r.Data = d.bytes()
		}
	}
}

func decodeReplyBody(d *decoder, schema field, r *Reply) {
	for f := field(1); f != 0 && f <= schema; f <<= 1 {
		if schema&f == 0 {
			continue
		}
		switch f {
		case rpHello:
			r.Version = d.u8()
			r.Answer.Requested = rights.Rights(d.u64())
			r.Answer.Supported = rights.Rights(d.u64())
			r.Answer.Unknown = rights.Rights(d.u64())
			r.Limits.MaxMessage = d.u32()
			r.Limits.MaxHandles = d.u32()
			r.Limits.MaxInflight = d.u32()
		case rpHandle:
			r.NewHandle = d.u32()
			r.HandleKind = HandleKind(d.u8())
		case rpPair:
			r.Pair.Base = rights.Rights(d.u64())
			r.Pair.Inherit = rights.Rights(d.u64())
		case rpOffset:
			r.Offset = d.i64()
		case rpStat:
			s := &r.Stat
			s.Dev = d.u64()
			s.Ino = d.u64()
			s.Nlink = d.u64()
			s.Mode = d.u32()
			s.UID = d.u32()
			s.GID = d.u32()
			s.Rdev = d.u64()
			s.Size = d.i64()
			s.Blksize = d.i64()
			s.Blocks = d.i64()
			s.Atime = decodeTimespec(d)
			s.Mtime = decodeTimespec(d)
			s.Ctime = decodeTimespec(d)
		case rpData:
			r.Data = d.bytes()
		case rpText:
			r.Text = d.str()
		case rpNames:
			n := d.count(minNameSize)
			if n > 0 {
				r.Names = make([]string, 0, n)
				for range n {
					r.Names = append(r.Names, d.str())
				}
			}
		case rpRoots:
			n := d.count(minRootSize)
			if n > 0 {
				r.Roots = make([]Root, 0, n)
				for range n {
					var root Root
					root.Name = d.str()
					root.Handle = d.u32()
					root.Rights.Base = rights.Rights(d.u64())
					root.Rights.Inherit = rights.Rights(d.u64())
					r.Roots = append(r.Roots, root)
				}
			}
		}
	}
}

func decodeTimespec(d *decoder) Timespec {
	return Timespec{Sec: d.i64(), Nsec: d.i64()}
}
