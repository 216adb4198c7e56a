package wire

import (
	"encoding/binary"
	"fmt"
)

// Magic starts every message; it catches a peer that speaks something else.
const Magic uint16 = 0xCAFD

// Protocol versions this build speaks. The header layout never changes, so
// these only govern what a peer may send: version 2 adds batches
// (batch.go), and changes no body.
const (
	MinVersion uint8 = 1
	MaxVersion uint8 = 2
)

// HeaderSize is the fixed size of the header that starts every message.
const HeaderSize = 20

// MaxMessage bounds one message (header and body). It stays below the
// default socket send buffer (net.core.wmem_default, 212992) so a maximal
// message is always sendable in one SEQPACKET datagram.
const MaxMessage = 128 << 10

// MaxBody is the largest body a message may carry.
const MaxBody = MaxMessage - HeaderSize

// MaxData is the most data bytes (a read's reply, a write's request) one
// message of maxMessage bytes carries: less the header, and 16 bytes for
// the fields beside the data (a pwrite's offset and the data's length).
// Client and broker both size by it, so that a read the client asks for
// is never one the broker refuses as over the limit.
func MaxData(maxMessage int) int { return maxMessage - HeaderSize - 16 }

// MaxFDs is how many descriptors one message may carry. Replies pass at most
// one data fd; requests carry none in version 1.
const MaxFDs = 1

// Kind says whether a message is a request, a reply or an error reply.
type Kind uint8

const (
	KindRequest Kind = 1
	KindReply   Kind = 2
	KindError   Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindReply:
		return "reply"
	case KindError:
		return "error"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Flags modify a request.
type Flags uint8

const (
	// FlagWantFD asks for the new handle's descriptor with the reply of
	// Open or Reopen, saving the round trip of a later Fd request.
	FlagWantFD Flags = 1 << iota
	// FlagNoReply asks the broker not to answer a Close: the client has
	// forgotten the handle either way, and an answer would cost it a read.
	FlagNoReply

	knownFlags = FlagWantFD | FlagNoReply
)

// Header is the fixed part of every message.
type Header struct {
	Version uint8
	Kind    Kind
	Op      Op
	FDs     uint8
	Flags   Flags
	ID      uint32
	Handle  uint32
	BodyLen uint32
}

// putHeader writes h into b, which must be at least HeaderSize long.
func putHeader(b []byte, h Header) {
	binary.LittleEndian.PutUint16(b[0:], Magic)
	b[2] = h.Version
	b[3] = uint8(h.Kind)
	binary.LittleEndian.PutUint16(b[4:], uint16(h.Op))
	b[6] = h.FDs
	b[7] = uint8(h.Flags)
	binary.LittleEndian.PutUint32(b[8:], h.ID)
	binary.LittleEndian.PutUint32(b[12:], h.Handle)
	binary.LittleEndian.PutUint32(b[16:], h.BodyLen)
}

// peekHeader decodes the raw header fields of msg without validating
// anything but the magic, so that a rejected message can still be answered
// by request id.
func peekHeader(msg []byte) (Header, bool) {
	if len(msg) < HeaderSize || binary.LittleEndian.Uint16(msg[0:]) != Magic {
		return Header{}, false
	}
	return Header{
		Version: msg[2],
		Kind:    Kind(msg[3]),
		Op:      Op(binary.LittleEndian.Uint16(msg[4:])),
		FDs:     msg[6],
		Flags:   Flags(msg[7]),
		ID:      binary.LittleEndian.Uint32(msg[8:]),
		Handle:  binary.LittleEndian.Uint32(msg[12:]),
		BodyLen: binary.LittleEndian.Uint32(msg[16:]),
	}, true
}

// ParseHeader reads and validates the header of msg: magic, version, kind,
// descriptor count, flags, and that the body length matches the bytes that
// follow exactly (so a length field can never make anyone read past, or
// allocate beyond, what actually arrived).
func ParseHeader(msg []byte) (Header, error) {
	if len(msg) < HeaderSize {
		return Header{}, protocolErrorf("message of %d bytes is shorter than the %d-byte header", len(msg), HeaderSize)
	}
	if len(msg) > MaxMessage {
		return Header{}, protocolErrorf("message of %d bytes exceeds the %d-byte limit", len(msg), MaxMessage)
	}
	h, ok := peekHeader(msg)
	if !ok {
		return Header{}, protocolErrorf("bad magic %#04x", binary.LittleEndian.Uint16(msg[0:]))
	}
	if h.Version < MinVersion || h.Version > MaxVersion {
		return h, protocolErrorf("unsupported protocol version %d (this build speaks %d..%d)", h.Version, MinVersion, MaxVersion)
	}
	switch h.Kind {
	case KindRequest, KindReply, KindError:
	default:
		return h, protocolErrorf("unknown message kind %d", uint8(h.Kind))
	}
	if h.FDs > MaxFDs {
		return h, protocolErrorf("message claims %d descriptors, at most %d allowed", h.FDs, MaxFDs)
	}
	if h.Flags&^knownFlags != 0 {
		return h, protocolErrorf("unknown flags %#x", uint8(h.Flags&^knownFlags))
	}
	if uint64(h.BodyLen) != uint64(len(msg)-HeaderSize) {
		return h, protocolErrorf("body length field says %d bytes, message carries %d", h.BodyLen, len(msg)-HeaderSize)
	}
	return h, nil
}
