package wire

import (
	"bytes"
	"testing"
)

// seedMessages are valid messages of every op, kind and field, so the fuzzer
// starts from deep inside the format rather than at the magic check.
func seedMessages(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, op := range Ops() {
		req := fullRequest(op)
		if msg, err := AppendRequest(nil, &req); err == nil {
			seeds = append(seeds, msg)
		} else {
			tb.Fatal(err)
		}
		rep := fullReply(op)
		if msg, err := AppendReply(nil, &rep, opTable[op].fd == fdAlways); err == nil {
			seeds = append(seeds, msg)
		} else {
			tb.Fatal(err)
		}
		if msg, err := AppendError(nil, 1, op, 1, ErrorReply{Errno: 2, Code: CodeEscape, Message: "no"}); err == nil {
			seeds = append(seeds, msg)
		}
	}
	return seeds
}

// FuzzParseRequest checks that no input panics the request decoder, and
// that whatever it accepts re-encodes to the same bytes (the encoding is
// canonical, so two parties can never disagree about what a message means).
func FuzzParseRequest(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := ParseRequest(msg)
		if err != nil {
			return
		}
		again, err := AppendRequest(nil, &r)
		if err != nil {
			t.Fatalf("accepted request does not re-encode: %v", err)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", msg, again)
		}
	})
}

// FuzzParseReply does the same for replies and error replies.
func FuzzParseReply(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := ParseReply(msg)
		if err != nil {
			return
		}
		var again []byte
		if r.Err != nil {
			again, err = AppendError(nil, r.ID, r.Op, r.Handle, *r.Err)
		} else {
			again, err = AppendReply(nil, &r, msg[6] == 1)
		}
		if err != nil {
			t.Fatalf("accepted reply does not re-encode: %v", err)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", msg, again)
		}
	})
}
