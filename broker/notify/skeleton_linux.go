package notify

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// The view outside the grants.
//
// A program under capfd run sees what a bubblewrap view of its grants
// would show: the granted paths, the directories above them (the
// skeleton), and nothing else.
//
//   - The ancestors of every grant ("/", "/tmp" for a grant on /tmp/work)
//     exist: stat, lstat, statx, statfs and access answer for them, from
//     a descriptor the supervisor opened when it started (so the answer is
//     about the directory the grant was found beneath, and no name
//     resolved later can redirect it), chdir works (sysChdir), and an
//     O_PATH open gets a stand-in for it (standin_linux.go: rsync walks
//     down from "/" with O_PATH). Nothing else does: they cannot be
//     listed (readdir would show the siblings of the grants), opened, or
//     changed; that answers EACCES, as a
//     directory one may not read or write does. rm's --preserve-root, git,
//     sqlite, node's realpath and rsync stat every component of their work
//     directory's path.
//   - Every other path outside the grants is absent: ENOENT for every
//     system call, whether or not it exists outside (so the answer tells
//     nothing about the host's files), as a path missing from the view
//     would be. Perl walks @INC until a directory is missing, gcc skips a
//     missing include directory, OpenSSL and git skip a missing config:
//     all of them stopped at EACCES. Creating a new entry directly in an
//     ancestor fails with EACCES, as in a directory one may not write.
//
// Refusals are still logged as "not capable" (probes only with -v), so a
// user sees what was asked for even when the program is told it is absent.

// skeletonNeeds are the rights an operation may need to be answered by
// an ancestor of a grant: lookup and stat of the directory itself.
const skeletonNeeds = rights.Lookup | rights.Stat

// openAncestors opens every proper ancestor of every grant that exists,
// once: the skeleton's descriptors.
func (t *grantTable) openAncestors() {
	t.ancestors = map[string]int{}
	for _, g := range t.grants {
		if g.fd < 0 {
			continue
		}
		for _, name := range g.names {
			for dir := path.Dir(name); ; dir = path.Dir(dir) {
				if _, seen := t.ancestors[dir]; !seen {
					if fd, err := vfsops.OpenDirAmbient(dir); err == nil {
						t.ancestors[dir] = fd
					}
				}
				if dir == "/" {
					break
				}
			}
		}
	}
}

// ancestor returns the skeleton's descriptor for abs, if abs is an
// ancestor of a grant. A final "." or ".." (which locate keeps, after the
// real path of what precedes it) is taken as the kernel takes it: the
// ancestors are real directories, so lexically.
func (t *grantTable) ancestor(abs string) (int, bool) {
	fd, ok := t.ancestors[path.Clean(abs)]
	return fd, ok
}

func (t *grantTable) closeAncestors() {
	for _, fd := range t.ancestors {
		unix.Close(fd)
	}
	t.ancestors = nil
}

// skeletonDir returns the skeleton directory l names, if it names one: an
// ancestor of a grant, or a grant's ".." (ls -la, rsync's walk from "/"),
// whichever holds the directory above.
func (c *call) skeletonDir(l location) (string, bool) {
	abs := path.Clean(l.abs)
	if l.g != nil {
		if l.rest != ".." {
			return "", false
		}
		if g, _ := c.s.grants.match(abs); g != nil {
			return "", false // a grant holds it: its own rules decide
		}
	}
	if _, ok := c.s.grants.ancestor(abs); ok {
		return abs, true
	}
	return "", false
}

// skeletonAnswers reports whether n can be answered by an ancestor of a
// grant (a stat-like probe of the directory itself).
func skeletonAnswers(n need) bool {
	return n.object.Without(skeletonNeeds) == 0 && n.parent.Without(rights.Lookup) == 0 && n.objectAlt == 0
}

// outsideErrno is the answer for l, outside every grant, to an operation
// needing n that the skeleton does not answer (see above).
func (c *call) outsideErrno(l location, n need) unix.Errno {
	if _, isAncestor := c.s.grants.ancestor(strings.TrimSuffix(l.abs, "/")); isAncestor || l.abs == "/" {
		return unix.EACCES
	}
	if n.parent&CreatingRights != 0 {
		if _, visible := c.s.grants.ancestor(path.Dir(l.abs)); visible {
			return unix.EACCES
		}
	}
	return unix.ENOENT
}
