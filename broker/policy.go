package broker

import (
	"fmt"
	"path"

	"github.com/capfd/capfd/rights"
)

// Grant is one directory capability given to a client: the name the client
// asks for it by, the directory, and the rights (base and inherit).
type Grant struct {
	Name   string
	Path   string
	Rights rights.Pair
	// Optional lets the directory appear after the broker starts: New does
	// not require it, and until it exists a client of the rule is refused
	// with the reason (see GrantError).
	Optional bool
}

// Match says which clients a rule applies to. Every field that is set must
// match; an empty Match matches every client.
type Match struct {
	UID *uint32 `yaml:"uid"`
	GID *uint32 `yaml:"gid"`
	// Exe is a path.Match pattern for the client's executable, read through
	// /proc/<pid>/exe while a pidfd pins the process.
	Exe string `yaml:"exe"`
	// Cgroup is a path.Match pattern for the client's cgroup v2 path.
	Cgroup string `yaml:"cgroup"`
}

// Rule grants directories to the clients it matches.
type Rule struct {
	Name   string  `yaml:"name"`
	Match  Match   `yaml:"match"`
	Grants []Grant `yaml:"-"`
}

// Policy maps client identities to grants. Rules are tried in order and the
// first that matches decides: a client matched by none is refused.
type Policy struct {
	Rules []Rule
}

// Lookup returns the rule for id.
func (p *Policy) Lookup(id Identity) (*Rule, bool) {
	for i := range p.Rules {
		if p.Rules[i].Match.matches(id) {
			return &p.Rules[i], true
		}
	}
	return nil, false
}

func (m Match) matches(id Identity) bool {
	if m.UID != nil && *m.UID != id.UID {
		return false
	}
	if m.GID != nil && *m.GID != id.GID {
		return false
	}
	if m.Exe != "" && !globMatch(m.Exe, id.Exe) {
		return false
	}
	if m.Cgroup != "" && !globMatch(m.Cgroup, id.Cgroup) {
		return false
	}
	return true
}

// globMatch is path.Match that treats an unknown value ("" when /proc could
// not be read) as matching nothing, so a pattern never admits a client the
// broker could not identify.
func globMatch(pattern, value string) bool {
	if value == "" {
		return false
	}
	ok, err := path.Match(pattern, value)
	return err == nil && ok
}

// validate checks a rule's patterns and grants.
func (r *Rule) validate() error {
	for _, pat := range []string{r.Match.Exe, r.Match.Cgroup} {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("client %q: bad pattern %q: %w", r.Name, pat, err)
		}
	}
	return validateGrants(r.Grants)
}

func validateGrants(grants []Grant) error {
	seen := map[string]bool{}
	for _, g := range grants {
		if g.Name == "" || len(g.Name) > 255 {
			return fmt.Errorf("grant %q: name must be 1..255 bytes", g.Name)
		}
		if seen[g.Name] {
			return fmt.Errorf("grant %q: granted twice", g.Name)
		}
		seen[g.Name] = true
		if !path.IsAbs(g.Path) {
			return fmt.Errorf("grant %q: path %q is not absolute", g.Name, g.Path)
		}
		if u := g.Rights.Base.Union(g.Rights.Inherit).Unknown(); u != 0 {
			return fmt.Errorf("grant %q: rights %v unknown to this build", g.Name, u)
		}
	}
	return nil
}
