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

// The rights of an object reached through a directory capability.
//
// A pair's Base is what its own directory holds; every object beneath it,
// at any depth, holds Inherit. So an operation made by path is decided on
// the objects it touches, exactly as if each directory on the way had
// been opened in turn and the operation made on the last one: removing
// "x/a" through a handle needs unlink on x, which lies beneath and so
// holds Inherit, as x.Remove("a") would after OpenDir("x"); a stat of
// "x" needs stat in Inherit, as fstat of the opened x would. A rule
// keyed on the object, not on the name used, is the only kind the kernel
// layers can enforce too (BPF LSM sees the dentry, Landlock the
// hierarchy), and no other spelling of the same object decides
// differently. This differs from WASI preview 1, where a directory's
// base rights govern path operations at any depth.

// Object returns the rights p gives an object: Base when it is p's own
// directory (own), Inherit when it lies beneath.
func (p Pair) Object(own bool) Rights {
	if own {
		return p.Base
	}
	return p.Inherit
}

// Dir returns the rights p gives a directory in which a name is looked
// up or an entry changed: Base for p's own directory (own), else
// Inherit; but lookup beneath needs lookup in Base as well, since
// reaching anything beneath took a lookup in p's own directory first.
func (p Pair) Dir(own bool) Rights {
	if own {
		return p.Base
	}
	if !p.Base.Has(Lookup) {
		return p.Inherit.Without(Lookup)
	}
	return p.Inherit
}
