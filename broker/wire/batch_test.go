package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// batchOf wraps msgs in a batch of kind with id.
func batchOf(t testing.TB, kind Kind, id uint32, msgs ...[]byte) []byte {
	t.Helper()
	b, start := BeginBatch(nil)
	for _, m := range msgs {
		b = append(b, m...)
	}
	b, err := EndBatch(b, start, kind, id, len(msgs))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRequest(t testing.TB, r Request) []byte {
	t.Helper()
	msg, err := AppendRequest(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestBatchRoundTrip: every request of every op, and every reply and
// error reply, batched and split again, parses to what went in.
func TestBatchRoundTrip(t *testing.T) {
	var reqs, reps [][]byte
	for _, op := range Ops() {
		reqs = append(reqs, mustRequest(t, fullRequest(op)))
		if opTable[op].fd != fdAlways {
			rep := fullReply(op)
			msg, err := AppendReply(nil, &rep, false)
			if err != nil {
				t.Fatal(err)
			}
			reps = append(reps, msg)
		}
		msg, err := AppendError(nil, 9, op, 1, ErrorReply{Errno: 2, Code: CodeNotCapable, Needed: 3, Held: 1, Message: "no"})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, msg)
	}
	for _, tc := range []struct {
		kind Kind
		id   uint32
		msgs [][]byte
	}{
		{KindRequest, 0xdeadbeef, reqs[:MaxBatch/2]},
		{KindRequest, 0, reqs[MaxBatch/2:]},
		{KindRequest, 1, reqs[:1]},
		{KindReply, 0, reps[:MaxBatch]},
		{KindReply, 0, reps[MaxBatch:]},
	} {
		b := batchOf(t, tc.kind, tc.id, tc.msgs...)
		if !IsBatch(b) {
			t.Fatal("IsBatch: false for a batch")
		}
		got, err := SplitBatch(b, nil)
		if err != nil {
			t.Fatalf("SplitBatch: %v", err)
		}
		if len(got) != len(tc.msgs) {
			t.Fatalf("%d messages out of a batch of %d", len(got), len(tc.msgs))
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.msgs[i]) {
				t.Fatalf("message %d differs:\n in %x\nout %x", i, tc.msgs[i], got[i])
			}
			if tc.kind == KindRequest {
				if _, err := ParseRequest(got[i]); err != nil {
					t.Errorf("batched request %d: %v", i, err)
				}
			} else if _, err := ParseReply(got[i]); err != nil {
				t.Errorf("batched reply %d: %v", i, err)
			}
		}
	}
	if IsBatch(reqs[0]) {
		t.Error("IsBatch: true for a request")
	}
	// A batch refused as a whole is answered by an error reply of op
	// batch: a message like any other.
	refusal, err := AppendError(nil, 7, OpBatch, 0, ErrorReply{Code: CodeProtocol, Message: "bad batch"})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := ParseReply(refusal); err != nil || IsBatch(refusal) || rep.Op != OpBatch || rep.Err == nil {
		t.Errorf("error reply to a batch: %+v, %v (IsBatch %v)", rep, err, IsBatch(refusal))
	}
}

// TestBatchRejected: every framing rule, broken once, is a protocol
// error naming what is wrong; a batch is never parsed as one message.
func TestBatchRejected(t *testing.T) {
	stat := mustRequest(t, Request{ID: 5, Op: OpStat, Handle: 1, Path: "f"})
	closeReq := mustRequest(t, Request{Op: OpClose, Handle: 2, Flags: FlagNoReply})
	rep, _ := AppendReply(nil, &Reply{ID: 5, Op: OpStat}, false)
	withFD, _ := AppendReply(nil, &Reply{ID: 6, Op: OpFd}, true)
	good := batchOf(t, KindRequest, 5, closeReq, stat)
	patch := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	manyMsgs := make([][]byte, MaxBatch+1)
	for i := range manyMsgs {
		manyMsgs[i] = closeReq
	}
	many, start := BeginBatch(nil)
	for _, m := range manyMsgs {
		many = append(many, m...)
	}
	many, _ = EndBatch(many, start, KindRequest, 0, MaxBatch) // the header is not counted: 65 inside
	empty, _ := BeginBatch(nil)
	putHeader(empty, Header{Version: BatchVersion, Kind: KindRequest, Op: OpBatch})
	truncated := batchOf(t, KindRequest, 5, closeReq, stat)
	truncated = truncated[:len(truncated)-1]
	putHeader(truncated, Header{Version: BatchVersion, Kind: KindRequest, Op: OpBatch, ID: 5, BodyLen: uint32(len(truncated) - HeaderSize)})
	trailing := append(bytes.Clone(good), 0xfd, 0xca)
	putHeader(trailing, Header{Version: BatchVersion, Kind: KindRequest, Op: OpBatch, ID: 5, BodyLen: uint32(len(trailing) - HeaderSize)})
	for _, tc := range []struct {
		name, msg string
		b         []byte
	}{
		{"version 1 header", "version 1", patch(good, 2, 1)},
		{"descriptor", "descriptors", patch(good, 6, 1)},
		{"flags", "flags", patch(good, 7, 1)},
		{"handle", "handle", patch(good, 12, 1)},
		{"error kind", "batch of errors", patch(good, 3, uint8(KindError))},
		{"reply batch with an id", "id 0", batchOfUnchecked(KindReply, 7, rep)},
		{"empty", "empty batch", empty},
		{"too many", "at most 64", many},
		{"truncated message", "left in the batch", truncated},
		{"trailing bytes", "no header", trailing},
		{"nested", "is a batch", batchOf(t, KindRequest, 5, good)},
		{"a reply in a request batch", "request batch is a reply", batchOf(t, KindRequest, 5, rep)},
		{"a request in a reply batch", "reply batch is a request", batchOf(t, KindReply, 0, stat)},
		{"a descriptor inside", "carry none", batchOf(t, KindReply, 0, withFD)},
		{"a version 2 message inside", "has version 2", batchOf(t, KindRequest, 5, patch(stat, 2, 2))},
		{"a bad message inside", "message 2 of the batch", batchOf(t, KindRequest, 5, stat, patch(stat, 0, 0))},
		{"not a batch", "not a batch", stat},
	} {
		_, err := SplitBatch(tc.b, nil)
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: SplitBatch error %v, want a protocol error saying %q", tc.name, err, tc.msg)
		}
	}
	if _, err := ParseRequest(good); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "SplitBatch") {
		t.Errorf("ParseRequest of a batch: %v", err)
	}
	if _, err := ParseReply(batchOf(t, KindReply, 0, rep)); !errors.Is(err, ErrProtocol) {
		t.Errorf("ParseReply of a batch: %v", err)
	}
	if _, err := ParseRequest(patch(stat, 2, 2)); !errors.Is(err, ErrProtocol) {
		t.Errorf("ParseRequest of a version 2 stat: %v", err)
	}
	for _, tc := range []struct {
		kind  Kind
		id    uint32
		count int
	}{{KindError, 0, 1}, {KindReply, 1, 1}, {KindRequest, 0, 0}, {KindRequest, 0, MaxBatch + 1}} {
		b, start := BeginBatch(nil)
		if _, err := EndBatch(append(b, stat...), start, tc.kind, tc.id, tc.count); !errors.Is(err, ErrProtocol) {
			t.Errorf("EndBatch(%v, id %d, %d messages): %v", tc.kind, tc.id, tc.count, err)
		}
	}
}

// batchOfUnchecked frames msgs without EndBatch's checks.
func batchOfUnchecked(kind Kind, id uint32, msgs ...[]byte) []byte {
	b, _ := BeginBatch(nil)
	for _, m := range msgs {
		b = append(b, m...)
	}
	putHeader(b, Header{Version: BatchVersion, Kind: kind, Op: OpBatch, ID: id, BodyLen: uint32(len(b) - HeaderSize)})
	return b
}

// FuzzSplitBatch checks that no input panics the batch splitter, and that
// a batch it accepts whose messages all parse re-encodes to the same
// bytes (batches are canonical too).
func FuzzSplitBatch(f *testing.F) {
	seeds := seedMessages(f)
	var reqs, reps [][]byte
	for _, s := range seeds {
		if s[6] != 0 {
			continue
		}
		if Kind(s[3]) == KindRequest {
			reqs = append(reqs, s)
		} else {
			reps = append(reps, s)
		}
	}
	f.Add(batchOf(f, KindRequest, 1, reqs[:8]...))
	f.Add(batchOf(f, KindReply, 0, reps[:8]...))
	f.Add(batchOf(f, KindRequest, 0, reqs[len(reqs)-3:]...))
	f.Fuzz(func(t *testing.T, msg []byte) {
		subs, err := SplitBatch(msg, nil)
		if err != nil {
			return
		}
		h, _ := ParseHeader(msg)
		again, start := BeginBatch(nil)
		for _, sub := range subs {
			var err error
			if h.Kind == KindRequest {
				var r Request
				if r, err = ParseRequest(sub); err != nil {
					return
				}
				again, err = AppendRequest(again, &r)
			} else {
				var r Reply
				if r, err = ParseReply(sub); err != nil {
					return
				}
				if r.Err != nil {
					again, err = AppendError(again, r.ID, r.Op, r.Handle, *r.Err)
				} else {
					again, err = AppendReply(again, &r, false)
				}
			}
			if err != nil {
				t.Fatalf("accepted message does not re-encode: %v", err)
			}
		}
		again, err = EndBatch(again, start, h.Kind, h.ID, len(subs))
		if err != nil {
			t.Fatalf("accepted batch does not re-encode: %v", err)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", msg, again)
		}
	})
}
