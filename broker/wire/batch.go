package wire

// Batches (protocol version 2). A batch is one message whose body is
// whole messages, each with its own header, one after the other: several
// requests in one sendmsg, several replies in one. The batch exists only
// on the socket: the receiver splits it (SplitBatch) and handles each
// message in order exactly as if it had arrived alone, with every check
// that message would get (ParseRequest, ParseReply), so batching changes
// how many system calls carry the messages and nothing else.
//
// OpBatch is not an operation, so it is not in the op table (Ops, Known
// and the broker's handler table never see it, and ParseRequest and
// ParseReply refuse it): it frames other messages.
//
// Framing rules, checked by SplitBatch before any message inside is
// looked at:
//   - the batch header: version 2 (BatchVersion), kind request or reply,
//     op OpBatch, no descriptors, no flags, handle 0; a reply batch has
//     id 0, a request batch the id its rejection as a whole is answered
//     to (the client sets the id of a request inside that expects a reply),
//     in an error reply of op OpBatch;
//   - 1 to MaxBatch messages, each a whole message whose header parses
//     (ParseHeader: its body length is checked against what follows) and
//     ends within the batch, with no bytes left over;
//   - inside: no batch, no descriptors (a reply that passes one is sent
//     on its own), only requests in a request batch and only replies and
//     error replies in a reply batch, each with version 1's header.
//
// Every other message keeps version 1's header (version 1), so a peer
// that speaks only version 1 parses everything but batches, and a batch
// is sent only to a peer that negotiated version 2.

// OpBatch frames other messages; see above.
const OpBatch Op = 8

// BatchVersion is the protocol version that brought batches, and the
// version a batch's header carries.
const BatchVersion uint8 = 2

// MessageVersion is the version in the header of every message but a
// batch: version 2 changed no body.
const MessageVersion uint8 = 1

// MaxBatch bounds the messages in one batch.
const MaxBatch = 64

// BeginBatch appends room for a batch header to b and returns b and the
// batch's start, for EndBatch; messages are appended to b in between
// (AppendRequest, AppendReply, AppendError).
func BeginBatch(b []byte) ([]byte, int) {
	return append(b, make([]byte, HeaderSize)...), len(b)
}

// EndBatch writes the header of the batch of count messages that starts
// at start in b. kind is KindRequest or KindReply; id is what a request
// batch's rejection is answered to (0 for a reply batch).
func EndBatch(b []byte, start int, kind Kind, id uint32, count int) ([]byte, error) {
	switch {
	case kind != KindRequest && kind != KindReply:
		return b[:start], protocolErrorf("a batch is of requests or replies, not %v", kind)
	case kind == KindReply && id != 0:
		return b[:start], protocolErrorf("a reply batch has id 0")
	case count < 1 || count > MaxBatch:
		return b[:start], protocolErrorf("a batch holds 1 to %d messages, not %d", MaxBatch, count)
	}
	body := len(b) - start - HeaderSize
	if body > MaxBody {
		return b[:start], protocolErrorf("batch of %d bytes exceeds %d", body, MaxBody)
	}
	putHeader(b[start:], Header{Version: BatchVersion, Kind: kind, Op: OpBatch, ID: id, BodyLen: uint32(body)})
	return b, nil
}

// IsBatch reports whether msg's header says it is a batch (without
// validating it: SplitBatch does). An error reply with op OpBatch is not
// one: it is the answer to a batch refused as a whole, a message like any
// other.
func IsBatch(msg []byte) bool {
	h, ok := peekHeader(msg)
	return ok && h.Op == OpBatch && h.Kind != KindError
}

// SplitBatch checks the framing of the batch msg and appends its messages
// (aliasing msg) to dst. Each still has to be parsed (ParseRequest,
// ParseReply), with the same checks as a message that came alone.
func SplitBatch(msg []byte, dst [][]byte) ([][]byte, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return dst, err
	}
	switch {
	case h.Op != OpBatch:
		return dst, protocolErrorf("op %v is not a batch", h.Op)
	case h.Version != BatchVersion:
		return dst, protocolErrorf("a batch's header has version %d, not %d", h.Version, BatchVersion)
	case h.Kind != KindRequest && h.Kind != KindReply:
		return dst, protocolErrorf("a batch of %vs", h.Kind)
	case h.FDs != 0:
		return dst, protocolErrorf("a batch carries no descriptors")
	case h.Flags != 0:
		return dst, protocolErrorf("a batch carries no flags")
	case h.Handle != 0:
		return dst, protocolErrorf("a batch names no handle")
	case h.Kind == KindReply && h.ID != 0:
		return dst, protocolErrorf("a reply batch has id 0")
	}
	body := msg[HeaderSize:]
	count := 0
	for len(body) > 0 {
		count++
		if count > MaxBatch {
			return dst, protocolErrorf("a batch holds at most %d messages", MaxBatch)
		}
		sh, ok := peekHeader(body)
		if !ok || len(body) < HeaderSize {
			return dst, protocolErrorf("message %d of the batch: no header in the %d bytes left", count, len(body))
		}
		n := uint64(HeaderSize) + uint64(sh.BodyLen)
		if n > uint64(len(body)) {
			return dst, protocolErrorf("message %d of the batch: %d bytes, %d left in the batch", count, n, len(body))
		}
		sub := body[:n]
		if sh, err = ParseHeader(sub); err != nil {
			return dst, protocolErrorf("message %d of the batch: %v", count, err)
		}
		switch {
		case sh.Op == OpBatch:
			return dst, protocolErrorf("message %d of the batch is a batch", count)
		case sh.Version != MessageVersion:
			return dst, protocolErrorf("message %d of the batch has version %d, not %d", count, sh.Version, MessageVersion)
		case sh.FDs != 0:
			return dst, protocolErrorf("message %d of the batch claims a descriptor: batched messages carry none", count)
		case h.Kind == KindRequest && sh.Kind != KindRequest:
			return dst, protocolErrorf("message %d of a request batch is a %v", count, sh.Kind)
		case h.Kind == KindReply && sh.Kind == KindRequest:
			return dst, protocolErrorf("message %d of a reply batch is a request", count)
		}
		dst = append(dst, sub)
		body = body[n:]
	}
	if count == 0 {
		return dst, protocolErrorf("empty batch")
	}
	return dst, nil
}
