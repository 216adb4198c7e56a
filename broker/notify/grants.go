package notify

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Grant gives the supervised program Rights on Path: a directory (and
// everything beneath it) or a single file.
type Grant struct {
	Path   string
	Rights rights.Pair
	// Optional grants name paths that may be missing (the default profile's
	// /etc/ld.so.preload). A missing optional grant answers ENOENT for its
	// exact path instead of refusing it, so programs probing for the file
	// behave as they would outside the sandbox.
	Optional bool
	// Learn marks a learning grant (learn.go): what it allows is handed
	// to Config.Learn. It never hides the stand-in store.
	Learn bool
}

// grant is an opened Grant. fd is an O_PATH descriptor taken when the
// supervisor starts: every later lookup is resolved beneath it, so renaming
// or replacing the granted path afterwards cannot redirect the grant.
type grant struct {
	Grant
	// names are the absolute, clean spellings that select this grant: the
	// configured path and, when it differs, the path the kernel reports for
	// fd (/lib is /usr/lib on merged-/usr systems). Requests are matched by
	// name, so both spellings must work.
	names []string
	fd    int // -1 for a missing optional grant
	isDir bool
}

// grantTable is the supervisor's fixed set of grants.
type grantTable struct {
	grants []*grant
	// roots finds a grant by the identity of its root (place_linux.go);
	// nested is set when a grant lies inside another.
	roots  map[fileID]*grant
	nested bool
	// ancestors are the directories above the grants, open: the
	// skeleton of the program's view (skeleton_linux.go).
	ancestors map[string]int
}

// openGrants opens every grant. Paths must be absolute; a grant on procfs is
// refused because "/proc/self" resolved by the supervisor is the supervisor,
// not the program: granting it would hand out the supervisor's memory,
// environment and descriptors.
func openGrants(list []Grant) (*grantTable, error) {
	t := &grantTable{}
	for _, g := range list {
		og, err := openGrant(g)
		if err != nil {
			t.close()
			return nil, err
		}
		t.grants = append(t.grants, og)
	}
	t.indexRoots()
	t.openAncestors()
	return t, nil
}

func openGrant(g Grant) (*grant, error) {
	if !path.IsAbs(g.Path) {
		return nil, fmt.Errorf("grant %q: path must be absolute", g.Path)
	}
	if unknown := g.Rights.Base.Union(g.Rights.Inherit).Unknown(); unknown != 0 {
		return nil, fmt.Errorf("grant %s: unknown rights %v", g.Path, unknown)
	}
	clean := path.Clean(g.Path)
	// The supervisor's own configuration is trusted: the granted path is
	// resolved by the kernel from the root, following symlinks.
	fd, err := vfsops.OpenObjectAmbient(clean)
	if err != nil {
		if g.Optional && errors.Is(err, unix.ENOENT) {
			return &grant{Grant: g, names: []string{clean}, fd: -1}, nil
		}
		return nil, fmt.Errorf("grant %s: %w", g.Path, err)
	}
	st, err := vfsops.Fstatfs(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("grant %s: statfs: %w", g.Path, err)
	}
	if st.Type == unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("grant %s: procfs cannot be granted: the supervisor would resolve /proc/self as itself", g.Path)
	}
	var stat unix.Stat_t
	if err := fstat(fd, &stat); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("grant %s: stat: %w", g.Path, err)
	}
	og := &grant{Grant: g, names: []string{clean}, fd: fd, isDir: stat.Mode&unix.S_IFMT == unix.S_IFDIR}
	if real, err := fdPath(fd); err == nil && real != clean {
		og.names = append(og.names, real)
	}
	return og, nil
}

// fdPath is the path procfs reports for one of our own descriptors (read
// beneath the verified procfs handle: vfsops.FdPath).
func fdPath(fd int) (string, error) {
	p, err := vfsops.FdPath(fd)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(p) || strings.HasSuffix(p, " (deleted)") {
		return "", fmt.Errorf("fd %d: no path (%q)", fd, p)
	}
	return p, nil
}

func (t *grantTable) close() {
	t.closeAncestors()
	for _, g := range t.grants {
		if g.fd >= 0 {
			unix.Close(g.fd)
		}
	}
	t.grants = nil
}

// match finds the grant covering the clean absolute path abs: the one with
// the longest name that is abs itself or a whole-component prefix of it
// ("/data" covers "/data/x", never "/database"). rest is what remains,
// relative to the grant, or "." for the granted object itself.
func (t *grantTable) match(abs string) (g *grant, rest string) {
	best := -1
	for _, cand := range t.grants {
		for _, name := range cand.names {
			if len(name) <= best {
				continue
			}
			switch {
			case abs == name:
				g, rest, best = cand, ".", len(name)
			case name == "/":
				g, rest, best = cand, abs[1:], len(name)
			case strings.HasPrefix(abs, name) && abs[len(name)] == '/':
				g, rest, best = cand, abs[len(name)+1:], len(name)
			}
		}
	}
	if g != nil && rest == "" {
		rest = "."
	}
	return g, rest
}

// above reports whether abs is a proper ancestor of some grant that
// exists (by any of its names).
func (t *grantTable) above(abs string) bool {
	for _, g := range t.grants {
		if g.fd < 0 {
			continue
		}
		for _, name := range g.names {
			if name != abs && (abs == "/" || strings.HasPrefix(name, abs+"/")) {
				return true
			}
		}
	}
	return false
}

// describe names the grant for "not capable" messages.
func (g *grant) describe() string {
	return fmt.Sprintf("grant %s has %v", g.Path, g.Rights)
}

// union is every right any grant carries; the seccomp layer refuses, by
// number, the syscalls that need rights no grant has.
func (t *grantTable) union() rights.Rights {
	var all rights.Rights
	for _, g := range t.grants {
		all = all.Union(g.Rights.Base).Union(g.Rights.Inherit)
	}
	return all
}
