package wire

import (
	"encoding/binary"
	"math"
)

// MaxString bounds every string field. Paths are at most PATH_MAX (4096)
// bytes on Linux; nothing else the protocol carries is longer.
const MaxString = 4096

// encoder appends fields to a buffer. Encoding cannot fail for values the
// caller built, except for strings and lists that break the protocol's
// bounds, which Marshal reports before anything is sent.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }

func (e *encoder) str(s string) {
	if len(s) > MaxString {
		e.fail(protocolErrorf("string of %d bytes exceeds %d", len(s), MaxString))
		return
	}
	e.b = binary.LittleEndian.AppendUint16(e.b, uint16(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(p []byte) {
	if len(p) > MaxBody {
		e.fail(protocolErrorf("byte field of %d bytes exceeds %d", len(p), MaxBody))
		return
	}
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) count(n int) {
	if n > math.MaxUint32 {
		e.fail(protocolErrorf("list of %d elements is too long", n))
		return
	}
	e.u32(uint32(n))
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// decoder consumes fields from a body. The first error sticks and every
// later read returns zero values, so decode functions read straight through
// and check once at the end, like cryptobyte.String.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = protocolErrorf("body truncated: need %d bytes, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8() uint8 {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if p := d.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) i64() int64 { return int64(d.u64()) }

func (d *decoder) boolean() bool {
	v := d.u8()
	if v > 1 && d.err == nil {
		d.err = protocolErrorf("boolean field holds %d", v)
	}
	return v == 1
}

// str copies a string out of the body; the length was checked against what
// is left, so the copy is bounded by the message size.
func (d *decoder) str() string {
	n := int(d.u16())
	if n > MaxString && d.err == nil {
		d.err = protocolErrorf("string of %d bytes exceeds %d", n, MaxString)
		return ""
	}
	return string(d.take(n))
}

// bytes returns a slice that aliases the body (capacity clipped, so an
// append by the caller cannot scribble over the rest of the message).
func (d *decoder) bytes() []byte {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		if d.err == nil {
			d.err = protocolErrorf("byte field of %d bytes, only %d left", n, len(d.b))
		}
		return nil
	}
	return d.take(int(n))
}

// count reads a list length and checks that the list can fit in what is
// left at minElem bytes per element before the caller allocates for it.
func (d *decoder) count(minElem int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(minElem) > uint64(len(d.b)) {
		d.err = protocolErrorf("list of %d elements cannot fit in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = protocolErrorf("%d trailing bytes after the body", len(d.b))
	}
	return d.err
}
