package rights

import (
	"fmt"
	"strings"
)

// Pair is a directory capability's rights: Base is what the directory handle
// may do itself (lookup, readdir, create, ...); Inherit is the ceiling for
// everything opened through it. Anything opened beneath the directory gets at
// most Inherit, as in WASI preview 1 and the "allowed_upgrades &= ..." rule of
// the openat2 upgrade-mask proposal, so a chain of opens can only narrow.
type Pair struct {
	Base    Rights `json:"base"`
	Inherit Rights `json:"inherit"`
}

// Uniform returns a Pair whose base and inherit rights are both r.
func Uniform(r Rights) Pair { return Pair{Base: r, Inherit: r} }

// Limit narrows both halves of p to those of ceiling.
func (p Pair) Limit(ceiling Pair) Pair {
	return Pair{Base: p.Base.Limit(ceiling.Base), Inherit: p.Inherit.Limit(ceiling.Inherit)}
}

// Child returns the rights of a directory opened beneath p when the opener
// asks for requested: both halves are capped by p.Inherit.
func (p Pair) Child(requested Pair) Pair {
	return Pair{Base: requested.Base.Limit(p.Inherit), Inherit: requested.Inherit.Limit(p.Inherit)}
}

// String formats p as "BASE:INHERIT", or just "BASE" when they are equal.
func (p Pair) String() string {
	if p.Base == p.Inherit {
		return p.Base.String()
	}
	return p.Base.String() + ":" + p.Inherit.String()
}

// ParsePair reads "BASE[:INHERIT]", the form used by `capfd run --grant`.
// Without ":INHERIT" the inherit rights equal the base rights.
func ParsePair(s string) (Pair, error) {
	baseText, inheritText, split := strings.Cut(s, ":")
	base, err := Parse(baseText)
	if err != nil {
		return Pair{}, fmt.Errorf("base: %w", err)
	}
	if !split {
		return Uniform(base), nil
	}
	if strings.TrimSpace(inheritText) == "" {
		// "ro:" is more likely a slip than a request for no inherit rights;
		// whoever means none says "ro:none".
		return Pair{}, fmt.Errorf("inherit: empty after ':' (write ':none' for no inherit rights)")
	}
	inherit, err := Parse(inheritText)
	if err != nil {
		return Pair{}, fmt.Errorf("inherit: %w", err)
	}
	return Pair{Base: base, Inherit: inherit}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Pair) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Pair) UnmarshalText(b []byte) error {
	v, err := ParsePair(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
