package wire

// AppendRequest appends the encoded request r (header and body) to b.
func AppendRequest(b []byte, r *Request) ([]byte, error) {
	sp, ok := spec(r.Op)
	if !ok {
		return b, protocolErrorf("cannot encode unknown op %d", uint16(r.Op))
	}
	if r.Flags&^knownFlags != 0 {
		return b, protocolErrorf("cannot encode unknown flags %#x", uint8(r.Flags))
	}
	start := len(b)
	e := encoder{b: append(b, make([]byte, HeaderSize)...)}
	encodeRequestBody(&e, sp.request, r)
	return finishMessage(e, start, Header{Version: MessageVersion, Kind: KindRequest, Op: r.Op, Flags: r.Flags, ID: r.ID, Handle: r.Handle})
}

// AppendReply appends the encoded reply r to b. withFD says whether a
// descriptor travels with it; it must agree with the op's rule.
func AppendReply(b []byte, r *Reply, withFD bool) ([]byte, error) {
	sp, ok := spec(r.Op)
	if !ok {
		return b, protocolErrorf("cannot encode unknown op %d", uint16(r.Op))
	}
	rule := sp.fd
	if withFD && rule == fdNever || !withFD && rule == fdAlways {
		return b, protocolErrorf("op %v: descriptor presence %v breaks the op's rule", r.Op, withFD)
	}
	start := len(b)
	e := encoder{b: append(b, make([]byte, HeaderSize)...)}
	encodeReplyBody(&e, sp.reply, r)
	h := Header{Version: MessageVersion, Kind: KindReply, Op: r.Op, ID: r.ID, Handle: r.Handle}
	if withFD {
		h.FDs = 1
	}
	return finishMessage(e, start, h)
}

// AppendError appends an error reply to the request with the given routing.
func AppendError(b []byte, id uint32, op Op, handle uint32, er ErrorReply) ([]byte, error) {
	if len(er.Message) > MaxString {
		er.Message = er.Message[:MaxString]
	}
	start := len(b)
	e := encoder{b: append(b, make([]byte, HeaderSize)...)}
	e.u32(er.Errno)
	e.u8(uint8(er.Code))
	e.u64(uint64(er.Needed))
	e.u64(uint64(er.Held))
	e.str(er.Message)
	return finishMessage(e, start, Header{Version: MessageVersion, Kind: KindError, Op: op, ID: id, Handle: handle})
}

func finishMessage(e encoder, start int, h Header) ([]byte, error) {
	if e.err != nil {
		return e.b[:start], e.err
	}
	body := len(e.b) - start - HeaderSize
	if body > MaxBody {
		return e.b[:start], protocolErrorf("op %v: body of %d bytes exceeds %d", h.Op, body, MaxBody)
	}
	h.BodyLen = uint32(body)
	putHeader(e.b[start:], h)
	return e.b, nil
}

func encodeRequestBody(e *encoder, schema field, r *Request) {
	for f := field(1); f != 0 && f <= schema; f <<= 1 {
		if schema&f == 0 {
			continue
		}
		switch f {
		case rqVersions:
			e.u8(r.VersionMin)
			e.u8(r.VersionMax)
		case rqRequested:
			e.u64(uint64(r.Requested))
		case rqHandle2:
			e.u32(r.Handle2)
		case rqPath:
			e.str(r.Path)
		case rqPath2:
			e.str(r.Path2)
		case rqFlags:
			e.u32(r.SysFlags)
		case rqMode:
			e.u32(r.Mode)
		case rqResolve:
			e.u8(r.Resolve)
		case rqFollow:
			e.u8(b2u(r.Follow))
		case rqOffset:
			e.i64(r.Offset)
		case rqCount:
			e.u32(r.Count)
		case rqOwner:
			e.u32(uint32(r.UID))
			e.u32(uint32(r.GID))
		case rqTimes:
			encodeTimespec(e, r.Atime)
			encodeTimespec(e, r.Mtime)
		case rqPair:
			e.u64(uint64(r.Pair.Base))
			e.u64(uint64(r.Pair.Inherit))
		case rqName:
			e.str(r.Name)
		case rqData:
			e.bytes(r.Data)
		}
	}
}

func encodeReplyBody(e *encoder, schema field, r *Reply) {
	for f := field(1); f != 0 && f <= schema; f <<= 1 {
		if schema&f == 0 {
			continue
		}
		switch f {
		case rpHello:
			e.u8(r.Version)
			e.u64(uint64(r.Answer.Requested))
			e.u64(uint64(r.Answer.Supported))
			e.u64(uint64(r.Answer.Unknown))
			e.u32(r.Limits.MaxMessage)
			e.u32(r.Limits.MaxHandles)
			e.u32(r.Limits.MaxInflight)
		case rpHandle:
			e.u32(r.NewHandle)
			e.u8(uint8(r.HandleKind))
		case rpPair:
			e.u64(uint64(r.Pair.Base))
			e.u64(uint64(r.Pair.Inherit))
		case rpOffset:
			e.i64(r.Offset)
		case rpStat:
			s := &r.Stat
			e.u64(s.Dev)
			e.u64(s.Ino)
			e.u64(s.Nlink)
			e.u32(s.Mode)
			e.u32(s.UID)
			e.u32(s.GID)
			e.u64(s.Rdev)
			e.i64(s.Size)
			e.i64(s.Blksize)
			e.i64(s.Blocks)
			encodeTimespec(e, s.Atime)
			encodeTimespec(e, s.Mtime)
			encodeTimespec(e, s.Ctime)
		case rpData:
			e.bytes(r.Data)
		case rpText:
			e.str(r.Text)
		case rpNames:
			e.count(len(r.Names))
			for _, n := range r.Names {
				e.str(n)
			}
		case rpRoots:
			e.count(len(r.Roots))
			for _, root := range r.Roots {
				e.str(root.Name)
				e.u32(root.Handle)
				e.u64(uint64(root.Rights.Base))
				e.u64(uint64(root.Rights.Inherit))
			}
		}
	}
}

func encodeTimespec(e *encoder, t Timespec) {
	e.i64(t.Sec)
	e.i64(t.Nsec)
}

func b2u(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}
