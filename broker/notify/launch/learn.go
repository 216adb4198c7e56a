package launch

import (
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/broker/profile"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Learning mode (capfd run --learn FILE).
//
// The supervisor hands every path request's needs to a Learner
// (notify.Need). When the program ends, Grants turns them into the
// smallest grant list that lets the same run succeed, written as a grant
// file for capfd run --config:
//
//  1. Each need becomes targets: the object with the rights it needed, and
//     for a new entry, an unlink or a rename, its directory with those.
//     What the run created is granted through the directory it was created
//     in (a rerun starts without it). procfs cannot be granted and is left
//     out.
//  2. A target the profiles already allow is dropped. One inside a grant
//     the user gave widens that grant (the granted object's own rights, or
//     what lies beneath it); the user's grants are written first, as given
//     or widened.
//  3. What is left and does not exist any more is dropped (a probe of a
//     missing path gets the same answer outside the grants), its rights
//     given to its directory if that is granted (so that the probe gets
//     ENOENT there, not EACCES).
//  4. A directory granted shows the names and metadata of its entries
//     (lookup, stat, readlink, readdir), whatever this run looked at.
//  5. Collapsing: the entries of one directory become a grant of the
//     directory when there are at least collapseAt of them, or the
//     directory is a target itself, repeatedly upwards. Never into a
//     directory near the root (fewer than two components: /etc, /usr), a
//     home directory, or a directory that is or holds a sensitive path
//     (profile.Sensitive: /etc/shadow, /tmp, /home...): a program reading
//     /etc/passwd, /etc/group and /etc/hosts gets three lines, not /etc.
//
// A learning run refuses what the grants refuse (the refusals are learned
// too, and a second run with the file goes further), unless it is given a
// learning grant (--learn-allow: notify.Grant.Learn on "/"), which allows
// what no other grant decides, so that one run learns everything the
// program touches.

// collapseAt is how many entries of one directory make a grant of it.
const collapseAt = 3

// A Learner collects a run's needs.
type Learner struct {
	mu    sync.Mutex
	needs map[string]notify.Need // by path; rights merged, refused if any was
}

// NewLearner returns an empty Learner.
func NewLearner() *Learner { return &Learner{needs: map[string]notify.Need{}} }

// add is the supervisor's Config.Learn.
func (l *Learner) add(n notify.Need) {
	l.mu.Lock()
	defer l.mu.Unlock()
	have := l.needs[n.Path]
	have.Path = n.Path
	have.Object |= n.Object
	have.Parent |= n.Parent
	have.Refused = have.Refused || n.Refused
	l.needs[n.Path] = have
}

// A LearnedGrant is one line of a learned grant file.
type LearnedGrant struct {
	notify.Grant
	// Entries is how many learned targets it stands for (collapsed
	// ones > 1); 0 for a user grant kept as given.
	Entries int
	// User: one of the user's grants, perhaps widened.
	User bool
}

// Grants is the grant list the recorded needs call for, given the user's
// grants and the profiles' (see above).
func (l *Learner) Grants(user, profiles []notify.Grant) []LearnedGrant {
	l.mu.Lock()
	// What the run created cannot be granted by its name (a rerun starts
	// without it): it lives in the grant of the directory it was created
	// in, or that one's, if that was created too.
	created := map[string]bool{}
	for _, n := range l.needs {
		if n.Parent&notify.CreatingRights != 0 {
			created[path.Clean(n.Path)] = true
		}
	}
	home := func(p string) string {
		for created[p] && p != "/" {
			p = path.Dir(p)
		}
		return p
	}
	targets := map[string]rights.Rights{}
	for _, n := range l.needs {
		if n.Path == "/proc" || strings.HasPrefix(n.Path, "/proc/") || !path.IsAbs(n.Path) {
			continue
		}
		p := path.Clean(n.Path)
		if n.Object != 0 {
			targets[home(p)] |= n.Object | rights.Lookup
		}
		if parent := n.Parent.Without(rights.Lookup); parent != 0 && p != "/" {
			targets[home(path.Dir(p))] |= parent | rights.Lookup
		}
	}
	l.mu.Unlock()
	out := make([]LearnedGrant, len(user))
	for i, g := range user {
		out[i] = LearnedGrant{Grant: g, User: true}
	}
	candidates := map[string]rights.Rights{}
	missing := map[string]rights.Rights{}
	entries := map[string]int{}
	for p, r := range targets {
		if isDir(p) && r.Has(rights.Read) {
			r |= rights.Readdir // a directory opened for reading is listed
		}
		g, rest := nearest(p, user, profiles)
		switch {
		case g == nil:
		case g.user:
			have := &out[g.index].Rights.Inherit
			if rest == "." {
				have = &out[g.index].Rights.Base
			}
			if !have.Has(r) {
				*have |= r
				out[g.index].Entries++
			}
			continue
		case g.rights(rest).Has(r):
			continue // the profile allows it
		default:
			r |= g.rights(rest) // a grant of it replaces the profile's there
		}
		if !vfsops.ExistsAmbient(p) {
			missing[p] |= r
			continue
		}
		candidates[p] |= r
		entries[p]++
	}
	// Only a directory needed for more than the skeleton answers (lookup,
	// stat, readlink) takes in its entries by being needed itself: the
	// directories a realpath walks through do not.
	needed := func(p string) bool {
		r, ok := candidates[p]
		return ok && r.Without(skeletonAnswers) != 0
	}
	for changed := true; changed; {
		changed = false
		byDir := map[string][]string{}
		for p := range candidates {
			if p != "/" {
				byDir[path.Dir(p)] = append(byDir[path.Dir(p)], p)
			}
		}
		for dir, children := range byDir {
			if !collapsible(dir) || len(children) < collapseAt && !needed(dir) {
				continue
			}
			for _, c := range children {
				candidates[dir] |= candidates[c]
				entries[dir] += entries[c]
				delete(candidates, c)
				delete(entries, c)
			}
			changed = true
		}
	}
	paths := make([]string, 0, len(candidates))
	for p := range candidates {
		paths = append(paths, p)
	}
	// Shallowest first: a grant beneath another is the only one deciding
	// beneath it, so it is folded into a collapsible ancestor, or keeps
	// at least the ancestor's rights (and is dropped if it adds none).
	slices.SortFunc(paths, func(a, b string) int { return strings.Count(a, "/") - strings.Count(b, "/") })
	for _, p := range paths {
		for dir := path.Dir(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
			if !needed(dir) {
				continue
			}
			if collapsible(dir) || candidates[dir].Has(candidates[p]) {
				candidates[dir] |= candidates[p]
				entries[dir] += entries[p]
				delete(candidates, p)
				delete(entries, p)
			} else {
				candidates[p] |= candidates[dir]
			}
			break
		}
	}
	paths = paths[:0]
	for p := range candidates {
		paths = append(paths, p)
	}
	// Deepest first: the skeleton answers lookup, stat and readlink of
	// every directory above a grant, so a grant of one ("/usr=lookup,
	// readlink", from a realpath) is dropped when it lies above a grant
	// that stays (it would replace the profiles' grants beneath it).
	slices.SortFunc(paths, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var kept []string
	for _, g := range append(append([]notify.Grant(nil), user...), profiles...) {
		kept = append(kept, path.Clean(g.Path))
	}
	paths = slices.DeleteFunc(paths, func(p string) bool {
		if candidates[p].Without(skeletonAnswers) == 0 && isAncestor(p, kept) {
			return true
		}
		kept = append(kept, p)
		return false
	})
	// A probe of a missing entry of a directory that is granted must get
	// ENOENT there too, not EACCES: the directory grants what it needed.
	// Outside the learned grants it is absent anyway.
	for p, r := range missing {
		dir := path.Dir(p)
		for !vfsops.ExistsAmbient(dir) && dir != "/" {
			dir = path.Dir(dir)
		}
		if _, ok := candidates[dir]; ok && slices.Contains(paths, dir) {
			candidates[dir] |= r
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		if isDir(p) {
			// A directory's grant shows its entries' names and
			// metadata: a rerun may look at them in another order or
			// way (a missing socket, then a listing) than this run did.
			candidates[p] |= dirMetadata
		}
	}
	for _, p := range paths {
		out = append(out, LearnedGrant{Grant: notify.Grant{Path: p, Rights: rights.Uniform(candidates[p])}, Entries: entries[p]})
	}
	return out
}

// placed is the grant a path lies in.
type placed struct {
	user  bool
	index int
	g     notify.Grant
}

func (p placed) rights(rest string) rights.Rights {
	if rest == "." {
		return p.g.Rights.Base
	}
	return p.g.Rights.Inherit
}

// nearest is the grant deciding p, the user's winning over a profile's of
// the same path, and p's place in it ("." for the granted path itself).
func nearest(p string, user, profiles []notify.Grant) (*placed, string) {
	var best *placed
	bestLen, bestRest := -1, ""
	try := func(g notify.Grant, isUser bool, i int) {
		gp := path.Clean(g.Path)
		var rest string
		switch {
		case p == gp:
			rest = "."
		case gp == "/":
			rest = p[1:]
		case strings.HasPrefix(p, gp+"/"):
			rest = p[len(gp)+1:]
		default:
			return
		}
		if len(gp) > bestLen || len(gp) == bestLen && isUser {
			best, bestLen, bestRest = &placed{user: isUser, index: i, g: g}, len(gp), rest
		}
	}
	for i, g := range profiles {
		try(g, false, i)
	}
	for i, g := range user {
		try(g, true, i)
	}
	return best, bestRest
}

// collapsible reports whether learned grants may be widened into dir.
func collapsible(dir string) bool {
	if strings.Count(dir, "/") < 2 || dir == "/" {
		return false
	}
	if home, err := os.UserHomeDir(); err == nil && path.Clean(home) == dir {
		return false
	}
	if parent := path.Dir(dir); parent == "/home" || dir == "/root" {
		return false
	}
	for _, s := range profile.Sensitive {
		if s.Path == dir || strings.HasPrefix(s.Path, dir+"/") {
			return false
		}
	}
	return true
}

// dirMetadata are what a learned directory grant always gives: the names
// and metadata of what is in it, never contents.
const dirMetadata = rights.Lookup | rights.Stat | rights.Readlink | rights.Readdir

// skeletonAnswers are the rights the skeleton answers for the directories
// above the grants.
const skeletonAnswers = rights.Lookup | rights.Stat | rights.Readlink

// isAncestor reports whether dir is a proper ancestor of one of paths.
func isAncestor(dir string, paths []string) bool {
	for _, q := range paths {
		if q != dir && (dir == "/" || strings.HasPrefix(q, dir+"/")) {
			return true
		}
	}
	return false
}

func isDir(p string) bool { return vfsops.IsDirAmbient(p) }

// WriteGrantFile writes gs as a grant file (capfd run --config) for the
// run of argv.
func WriteGrantFile(w io.Writer, argv []string, gs []LearnedGrant) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Grants learned by capfd run --learn from a run of: %s\n", strings.Join(strings.Fields(strings.Join(argv, " ")), " "))
	b.WriteString("# Use: capfd run --config FILE -- PROG ... (with the same --profile flags;\n")
	b.WriteString("# the profiles' grants are not repeated here). Review before use.\n")
	for _, g := range gs {
		switch {
		case g.User:
			b.WriteString("# given on the command line")
			if g.Entries > 0 {
				b.WriteString(", widened")
			}
			b.WriteString(":\n")
		case g.Entries > 1:
			fmt.Fprintf(&b, "# %d entries:\n", g.Entries)
		}
		fmt.Fprintf(&b, "%s=%s\n", g.Path, g.Rights)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
