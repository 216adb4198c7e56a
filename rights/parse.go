package rights

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownRight is wrapped by Parse errors for names it does not know.
var ErrUnknownRight = errors.New("unknown right")

// maxParseLen bounds Parse's input: the longest sensible list (every name
// once) is well under this, and a bound keeps hostile input cheap.
const maxParseLen = 4096

// Parse reads a comma-separated list of right names and groups, e.g.
// "read,write,lookup", "ro", "rw,exec" or "all". Whitespace around names is
// ignored; "-name" removes a right that an earlier item added, so
// "rw,-unlink" is read-write without unlink. A hex item ("0x...") is accepted
// so that String's output for unknown bits parses back; the unknown bits are
// kept for the caller to answer with Query, never silently dropped.
func Parse(s string) (Rights, error) {
	if len(s) > maxParseLen {
		return 0, fmt.Errorf("parse rights: input of %d bytes exceeds %d", len(s), maxParseLen)
	}
	var r Rights
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		remove := strings.HasPrefix(item, "-")
		if remove {
			item = strings.TrimSpace(item[1:])
		}
		if item == "" {
			if remove || strings.TrimSpace(s) != "" {
				return 0, fmt.Errorf("parse rights %q: empty item", s)
			}
			continue
		}
		v, err := parseItem(item)
		if err != nil {
			return 0, fmt.Errorf("parse rights %q: %w", s, err)
		}
		if remove {
			r &^= v
		} else {
			r |= v
		}
	}
	return r, nil
}

func parseItem(item string) (Rights, error) {
	if v, ok := groups[item]; ok {
		return v, nil
	}
	if v, ok := ByName(item); ok {
		return v, nil
	}
	if hex, ok := strings.CutPrefix(item, "0x"); ok {
		v, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			return 0, fmt.Errorf("bad hex rights %q: %w", item, err)
		}
		return Rights(v), nil
	}
	if s := Suggest(item); s != "" {
		return 0, fmt.Errorf("%w %q (did you mean %q?)", ErrUnknownRight, item, s)
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownRight, item)
}

// MustParse is Parse for constant strings in programs and tests.
func MustParse(s string) Rights {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// MarshalText implements encoding.TextMarshaler (and so JSON strings).
func (r Rights) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rights) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
