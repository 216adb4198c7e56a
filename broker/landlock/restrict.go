package landlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/landlock-lsm/go-landlock/landlock"

	"github.com/capfd/capfd/rights"
)

// Grant allows Rights on Path and, for a directory, on everything beneath
// it (see accessForGrant for how Base and Inherit combine).
type Grant struct {
	Path   string
	Rights rights.Pair
	// Fd, with FromFd, names the object by an open descriptor instead
	// (a file, not a directory); Path then only describes it.
	Fd     int  `json:"-"`
	FromFd bool `json:"-"`
}

// Report says what Restrict made the kernel enforce.
type Report struct {
	ABI int
	// Handled is the access the kernel now refuses outside the grants.
	Handled AccessFS
	// Enforced are the rights whose Landlock access is all handled: for
	// these, the kernel refuses what the grants do not allow.
	Enforced rights.Rights
	// BeyondABI are rights Landlock can express, but only at a newer ABI
	// than this kernel's (truncate before 3, ioctl before 5, cross-directory
	// rename and link before 2). They are not enforced by this layer.
	BeyondABI rights.Rights
	// Inexpressible are rights no Landlock ABI can enforce; see access.go.
	Inexpressible rights.Rights
	// Widened lists grants that Landlock gives more access than asked,
	// because a grant on an ancestor directory already allows it: Landlock
	// rules add up down the tree and cannot narrow beneath a wider one.
	Widened []Widening
	// Ambient is what RestrictThread enforces beyond files.
	Ambient AmbientReport
}

// Widening is a grant on Path that the kernel lets through with Extra on
// top of the access the grant itself maps to.
type Widening struct {
	Path  string
	Extra AccessFS
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "landlock ABI %d: handled %v; enforced %v", r.ABI, r.Handled, r.Enforced)
	if r.BeyondABI != 0 {
		fmt.Fprintf(&b, "; beyond this ABI %v", r.BeyondABI)
	}
	for _, w := range r.Widened {
		fmt.Fprintf(&b, "; %s widened by %v", w.Path, w.Extra)
	}
	fmt.Fprintf(&b, "; beyond files: %v", r.Ambient)
	return b.String()
}

// Restrict confines the calling process, every thread of it and everything
// it later forks or execs, to grants. It also sets no_new_privs. Anything
// not granted is refused for every access the running ABI handles, so an
// empty grant list leaves no file reachable at all.
//
// It cannot be undone: callers do it in the child that is about to exec
// the confined program, or in a test's re-exec'd child.
func Restrict(grants []Grant) (Report, error) {
	report, rules, err := plan(grants)
	if err != nil {
		return report, err
	}
	ruleset := make([]landlock.Rule, 0, len(rules))
	for _, r := range rules {
		if r.fromFd {
			return report, fmt.Errorf("landlock: grant %s: a descriptor's rule needs RestrictThread", r.path)
		}
		if r.access != 0 {
			ruleset = append(ruleset, landlock.PathAccess(r.access, r.path))
		}
	}
	cfg, err := landlock.NewConfig(report.Handled)
	if err != nil {
		return report, fmt.Errorf("landlock: config %v: %w", report.Handled, err)
	}
	// Not BestEffort: Handled is already what this ABI supports, and best
	// effort would turn an unexpected incompatibility into no restriction.
	if err := cfg.RestrictPaths(ruleset...); err != nil {
		return report, fmt.Errorf("landlock: restrict: %w", err)
	}
	return report, nil
}

// plan is what Restrict and RestrictThread share: the running ABI, the
// report of what it will enforce, and the grants resolved to rules.
func plan(grants []Grant) (Report, []rule, error) {
	abi, err := Probe()
	if err != nil {
		return Report{}, nil, err
	}
	report := newReport(abi, grants)
	rules, err := resolve(grants, report.Handled)
	if err != nil {
		return report, nil, err
	}
	report.Widened = widenings(rules)
	return report, rules, nil
}

func newReport(abi int, grants []Grant) Report {
	r := Report{ABI: abi, Handled: handledAt(abi)}
	var wanted rights.Rights
	for _, g := range grants {
		wanted |= g.Rights.Base | g.Rights.Inherit
	}
	for _, e := range rightAccess {
		switch {
		case abi >= e.minABI:
			r.Enforced |= e.right
		case wanted.Has(e.right):
			r.BeyondABI |= e.right
		}
	}
	r.Inexpressible = wanted &^ Expressible
	return r
}

// rule is one grant resolved to a real path and the access of its rule.
type rule struct {
	path   string // as given; Landlock opens it
	real   string // symlinks resolved, for the ancestor check; "" for fromFd
	isDir  bool
	access AccessFS
	// fromFd: the rule is for the object open on fd (Grant.FromFd).
	fd     int
	fromFd bool
}

// resolve stats each grant, because whether it is a directory decides which
// access bits a rule may carry, and limits access to what is handled.
func resolve(grants []Grant, handled AccessFS) ([]rule, error) {
	rules := make([]rule, 0, len(grants))
	var problems []error
	for _, g := range grants {
		if g.Path == "" {
			problems = append(problems, errors.New("grant with an empty path"))
			continue
		}
		if unknown := (g.Rights.Base | g.Rights.Inherit).Unknown(); unknown != 0 {
			problems = append(problems, fmt.Errorf("grant %s: unknown rights %#x", g.Path, uint64(unknown)))
			continue
		}
		if g.FromFd {
			rules = append(rules, rule{path: g.Path, fd: g.Fd, fromFd: true, access: accessForGrant(g.Rights, false) & handled})
			continue
		}
		fi, err := os.Stat(g.Path)
		if err != nil {
			problems = append(problems, fmt.Errorf("grant %s: %w", g.Path, err))
			continue
		}
		real, err := filepath.EvalSymlinks(g.Path)
		if err != nil {
			problems = append(problems, fmt.Errorf("grant %s: %w", g.Path, err))
			continue
		}
		if real, err = filepath.Abs(real); err != nil {
			problems = append(problems, fmt.Errorf("grant %s: %w", g.Path, err))
			continue
		}
		rules = append(rules, rule{
			path:   g.Path,
			real:   real,
			isDir:  fi.IsDir(),
			access: accessForGrant(g.Rights, fi.IsDir()) & handled,
		})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("landlock: %w", errors.Join(problems...))
	}
	return rules, nil
}

// widenings finds grants beneath a directory grant with more access.
// Paths are compared after resolving symlinks; bind mounts showing one
// directory at two places are not detected.
func widenings(rules []rule) []Widening {
	var out []Widening
	for _, r := range rules {
		if r.fromFd {
			continue
		}
		var inherited AccessFS
		for _, anc := range rules {
			if !anc.fromFd && anc.real != r.real && isBeneath(r.real, anc.real) {
				inherited |= anc.access
			}
		}
		if !r.isDir {
			// Directory bits of an ancestor mean nothing for a file.
			inherited &= fileAccess
		}
		if extra := inherited &^ r.access; extra != 0 {
			out = append(out, Widening{Path: r.path, Extra: extra})
		}
	}
	return out
}

func isBeneath(path, dir string) bool {
	if dir == "/" {
		return path != "/"
	}
	return strings.HasPrefix(path, dir+"/")
}
