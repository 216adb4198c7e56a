package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// fullRequest returns a request for op with every field its schema names
// set to a distinctive value, and every other field zero.
func fullRequest(op Op) Request {
	r := Request{ID: 0xdeadbeef, Op: op, Handle: 7}
	switch op {
	case OpOpen, OpReopen:
		r.Flags = FlagWantFD
	case OpClose:
		r.Flags = FlagNoReply
	}
	schema := opTable[op].request
	set := func(f field, fn func()) {
		if schema&f != 0 {
			fn()
		}
	}
	set(rqVersions, func() { r.VersionMin, r.VersionMax = 1, 3 })
	set(rqRequested, func() { r.Requested = rights.ReadOnly | 1<<60 })
	set(rqHandle2, func() { r.Handle2 = 9 })
	set(rqPath, func() { r.Path = "a/b/ü" })
	set(rqPath2, func() { r.Path2 = "../target" })
	set(rqFlags, func() { r.SysFlags = 0o2101 })
	set(rqMode, func() { r.Mode = 0o644 })
	set(rqResolve, func() { r.Resolve = 5 })
	set(rqFollow, func() { r.Follow = true })
	set(rqOffset, func() { r.Offset = -42 })
	set(rqCount, func() { r.Count = 4096 })
	set(rqOwner, func() { r.UID, r.GID = -1, 1000 })
	set(rqTimes, func() { r.Atime, r.Mtime = Timespec{1, 2}, Timespec{3, 1<<30 - 2} })
	set(rqPair, func() { r.Pair = rights.Pair{Base: rights.ReadWrite, Inherit: rights.ReadOnly} })
	set(rqName, func() { r.Name = "user.k" })
	set(rqData, func() { r.Data = []byte("payload\x00") })
	return r
}

func fullReply(op Op) Reply {
	r := Reply{ID: 0xfeed, Op: op, Handle: 3}
	schema := opTable[op].reply
	set := func(f field, fn func()) {
		if schema&f != 0 {
			fn()
		}
	}
	set(rpHello, func() {
		r.Version = 1
		r.Answer = rights.Query(rights.All | 1<<62)
		r.Limits = Limits{MaxMessage: MaxMessage, MaxHandles: 1024, MaxInflight: 64}
	})
	set(rpHandle, func() { r.NewHandle, r.HandleKind = 11, HandleFile })
	set(rpPair, func() { r.Pair = rights.Uniform(rights.ReadOnly) })
	set(rpOffset, func() { r.Offset = 1 << 40 })
	set(rpStat, func() {
		r.Stat = Stat{Dev: 1, Ino: 2, Nlink: 3, Mode: 0o100644, UID: 4, GID: 5, Rdev: 6, Size: 7, Blksize: 8, Blocks: 9,
			Atime: Timespec{10, 11}, Mtime: Timespec{12, 13}, Ctime: Timespec{14, 15}}
	})
	set(rpData, func() { r.Data = []byte{0, 1, 2, 255} })
	set(rpText, func() { r.Text = "link-target" })
	set(rpNames, func() { r.Names = []string{"user.a", "", "security.b"} })
	set(rpRoots, func() {
		r.Roots = []Root{{Name: "data", Handle: 1, Rights: rights.Uniform(rights.ReadOnly)}, {Name: "tmp", Handle: 2, Rights: rights.Uniform(rights.ReadWrite)}}
	})
	return r
}

func TestRoundTrip(t *testing.T) {
	for _, op := range Ops() {
		t.Run(op.String(), func(t *testing.T) {
			req := fullRequest(op)
			msg, err := AppendRequest(nil, &req)
			if err != nil {
				t.Fatalf("encode request: %v", err)
			}
			got, err := ParseRequest(msg)
			if err != nil {
				t.Fatalf("decode request: %v", err)
			}
			if !reflect.DeepEqual(got, req) {
				t.Errorf("request round trip:\n got %+v\nwant %+v", got, req)
			}

			rep := fullReply(op)
			withFD := opTable[op].fd == fdAlways
			msg, err = AppendReply(nil, &rep, withFD)
			if err != nil {
				t.Fatalf("encode reply: %v", err)
			}
			gotRep, err := ParseReply(msg)
			if err != nil {
				t.Fatalf("decode reply: %v", err)
			}
			if !reflect.DeepEqual(gotRep, rep) {
				t.Errorf("reply round trip:\n got %+v\nwant %+v", gotRep, rep)
			}

			er := ErrorReply{Errno: 13, Code: CodeNotCapable, Needed: rights.Write, Held: rights.ReadOnly, Message: "open x: missing write"}
			msg, err = AppendError(nil, 5, op, 3, er)
			if err != nil {
				t.Fatalf("encode error: %v", err)
			}
			gotErr, err := ParseReply(msg)
			if err != nil {
				t.Fatalf("decode error: %v", err)
			}
			if gotErr.Err == nil || *gotErr.Err != er || gotErr.ID != 5 || gotErr.Op != op {
				t.Errorf("error round trip: got %+v err %+v", gotErr, gotErr.Err)
			}
		})
	}
}

// patch returns a copy of msg with fn applied, for building bad messages
// from good ones.
func patch(msg []byte, fn func([]byte) []byte) []byte {
	return fn(append([]byte(nil), msg...))
}

func TestParseRejects(t *testing.T) {
	good, err := AppendRequest(nil, &Request{ID: 1, Op: OpStat, Handle: 1, Path: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRequest(good); err != nil {
		t.Fatalf("good message rejected: %v", err)
	}
	hello, _ := AppendReply(nil, &Reply{Op: OpHello, Roots: []Root{{Name: "r"}}}, false)
	countAt := HeaderSize + 1 + 24 + 12 // after version, answer and limits
	tests := []struct {
		name  string
		msg   []byte
		reply bool
		want  string
	}{
		{"empty", nil, false, "shorter than"},
		{"short header", good[:HeaderSize-1], false, "shorter than"},
		{"bad magic", patch(good, func(b []byte) []byte { b[0] = 0; return b }), false, "bad magic"},
		{"future version", patch(good, func(b []byte) []byte { b[2] = 99; return b }), false, "unsupported protocol version"},
		{"version zero", patch(good, func(b []byte) []byte { b[2] = 0; return b }), false, "unsupported protocol version"},
		{"unknown kind", patch(good, func(b []byte) []byte { b[3] = 9; return b }), false, "unknown message kind"},
		{"reply as request", patch(good, func(b []byte) []byte { b[3] = byte(KindReply); return b }), false, "expected a request"},
		{"unknown op", patch(good, func(b []byte) []byte { b[4], b[5] = 0xff, 0xff; return b }), false, "unknown op"},
		{"fds in request", patch(good, func(b []byte) []byte { b[6] = 1; return b }), false, "no descriptors"},
		{"too many fds", patch(good, func(b []byte) []byte { b[6] = 200; return b }), false, "descriptors"},
		{"unknown flag", patch(good, func(b []byte) []byte { b[7] = 0x80; return b }), false, "unknown flags"},
		{"flag on stat", patch(good, func(b []byte) []byte { b[7] = byte(FlagWantFD); return b }), false, "takes no want-fd flag"},
		{"body length too long", patch(good, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 1<<31); return b }), false, "body length"},
		{"body length too short", patch(good, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 0); return b }), false, "body length"},
		{"truncated body", patch(good, func(b []byte) []byte {
			b = b[:len(b)-1]
			binary.LittleEndian.PutUint32(b[16:], uint32(len(b)-HeaderSize))
			return b
		}), false, "truncated"},
		{"trailing bytes", patch(good, func(b []byte) []byte {
			b = append(b, 0)
			binary.LittleEndian.PutUint32(b[16:], uint32(len(b)-HeaderSize))
			return b
		}), false, "trailing"},
		{"string longer than body", patch(good, func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[HeaderSize:], 0xffff)
			return b
		}), false, "exceeds"},
		{"bad boolean", patch(good, func(b []byte) []byte { b[len(b)-1] = 2; return b }), false, "boolean"},
		{"oversized", append(append([]byte(nil), good...), make([]byte, MaxMessage)...), false, "exceeds"},
		{"huge list count", patch(hello, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[countAt:], 0xffffffff)
			return b
		}), true, "cannot fit"},
		{"fd reply without fd", patch(good, func(b []byte) []byte {
			msg, _ := AppendReply(nil, &Reply{Op: OpFd}, true)
			msg[6] = 0
			return msg
		}), true, "must carry a descriptor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.reply {
				_, err = ParseReply(tc.msg)
			} else {
				_, err = ParseRequest(tc.msg)
			}
			if err == nil {
				t.Fatalf("accepted a bad message")
			}
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrProtocol mentioning %q", err, tc.want)
			}
		})
	}
}

func TestEncodeRejectsOutOfBounds(t *testing.T) {
	if _, err := AppendRequest(nil, &Request{Op: OpStat, Path: strings.Repeat("a", MaxString+1)}); !errors.Is(err, ErrProtocol) {
		t.Errorf("over-long path: got %v, want a protocol error", err)
	}
	if _, err := AppendRequest(nil, &Request{Op: OpWrite, Data: make([]byte, MaxBody)}); !errors.Is(err, ErrProtocol) {
		t.Errorf("over-large write: got %v, want a protocol error", err)
	}
	if _, err := AppendRequest(nil, &Request{Op: OpEnd}); !errors.Is(err, ErrProtocol) {
		t.Errorf("unknown op: got %v, want a protocol error", err)
	}
	if _, err := AppendReply(nil, &Reply{Op: OpStat}, true); !errors.Is(err, ErrProtocol) {
		t.Errorf("fd on a stat reply: got %v, want a protocol error", err)
	}
	// A failed encode leaves the caller's buffer as it was.
	prefix := []byte("keep")
	out, _ := AppendRequest(prefix, &Request{Op: OpStat, Path: strings.Repeat("a", MaxString+1)})
	if !bytes.Equal(out, prefix) {
		t.Errorf("failed encode changed the buffer to %q", out)
	}
}

// TestDecodeAllocationBounded feeds a maximal message whose list counts
// claim far more elements than fit, and checks the decoder allocates no
// more than a small multiple of the message size.
func TestDecodeAllocationBounded(t *testing.T) {
	// A list of empty names: the largest allocation per input byte the
	// format allows (a 16-byte string header per 2 bytes of input).
	rep := Reply{Op: OpXattrList}
	for len(rep.Names)*minNameSize < MaxBody-64 {
		rep.Names = append(rep.Names, "")
	}
	msg, err := AppendReply(nil, &rep, false)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := ParseReply(msg); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// Each 2-byte name becomes a 16-byte string header: bounded by a
	// constant factor, never by a length field.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(10*len(msg)); got > limit {
		t.Errorf("decoding %d bytes allocated %d, limit %d", len(msg), got, limit)
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		min, max uint8
		want     uint8
		ok       bool
	}{
		{1, 1, 1, true},
		{1, 9, MaxVersion, true},
		{0, 1, 1, true},
		{2, 9, 2, true},
		{1, 2, 2, true},
		{3, 9, 0, false},
		{0, 0, 0, false},
		{3, 1, 0, false},
	}
	for _, tc := range tests {
		got, ok := Negotiate(tc.min, tc.max)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Negotiate(%d, %d) = %d, %v; want %d, %v", tc.min, tc.max, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOpNames(t *testing.T) {
	for _, op := range Ops() {
		back, ok := ParseOp(op.String())
		if !ok || back != op {
			t.Errorf("ParseOp(%q) = %v, %v", op.String(), back, ok)
		}
	}
	for _, op := range []Op{0, 4, 15, OpEnd, OpEnd + 1, 0xffff} {
		if op.Known() {
			t.Errorf("op %d is known", uint16(op))
		}
		if got, want := op.String(), fmt.Sprintf("op(%d)", uint16(op)); got != want {
			t.Errorf("op %d is named %q, want %q", uint16(op), got, want)
		}
	}
}

// TestOpTableMirrorsVFS checks the protocol against the vfsops operation
// table: every vfsops operation is served by an op, a filesystem op bears
// its operation's name (metrics and audit records use it), and a control
// op says why it has none.
func TestOpTableMirrorsVFS(t *testing.T) {
	for _, v := range vfsops.Ops() {
		op, ok := ServedBy(v)
		if !ok {
			t.Errorf("vfsops op %v has no wire op serving it", v)
			continue
		}
		if got, _ := op.VFSOp(); got != v && opTable[op].also != v {
			t.Errorf("ServedBy(%v) = %v, which performs %v", v, op, got)
		}
	}
	seen := map[vfsops.Op]Op{}
	for _, op := range Ops() {
		s := opTable[op]
		switch {
		case s.vfs == vfsops.OpInvalid && s.why == "":
			t.Errorf("op %v performs no vfsops op and says not why", op)
		case s.vfs != vfsops.OpInvalid && s.why != "":
			t.Errorf("op %v performs %v yet says why it performs none", op, s.vfs)
		case s.vfs != vfsops.OpInvalid && !s.vfs.Valid():
			t.Errorf("op %v performs invalid vfsops op %d", op, s.vfs)
		case s.vfs != vfsops.OpInvalid && s.name != s.vfs.String():
			t.Errorf("op %v is named %q, its vfsops op %q", op, s.name, s.vfs)
		}
		for _, v := range []vfsops.Op{s.vfs, s.also} {
			if v == vfsops.OpInvalid {
				continue
			}
			if prev, dup := seen[v]; dup {
				t.Errorf("vfsops op %v is performed by both %v and %v", v, prev, op)
			}
			seen[v] = op
		}
	}
}
