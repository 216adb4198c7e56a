package vfsops

import (
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Resolve selects resolution options beyond the always-on
// RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS.
type Resolve uint8

const (
	// NoXDev refuses to cross a mount point (RESOLVE_NO_XDEV), in either
	// direction, including ".." out of a mount.
	NoXDev Resolve = 1 << iota
	// NoSymlinks refuses every symlink (RESOLVE_NO_SYMLINKS), with ELOOP.
	NoSymlinks
	// InRoot resolves as if the directory were "/" (RESOLVE_IN_ROOT): ".."
	// at the top stays at the top and absolute paths and symlinks start
	// from the directory, instead of failing with ErrEscape.
	InRoot

	// forceWalk makes this one call use the fallback walker. It is
	// unexported so that only tests (and ForceFallback) can ask for it, and
	// per call so that tests of both resolvers can share one process.
	forceWalk Resolve = 1 << 7
)

// knownResolve is every bit a caller may pass.
const knownResolve = NoXDev | NoSymlinks | InRoot | forceWalk

func (how Resolve) String() string {
	if how == 0 {
		return "beneath"
	}
	var parts []string
	for _, f := range []struct {
		bit  Resolve
		name string
	}{{NoXDev, "no-xdev"}, {NoSymlinks, "no-symlinks"}, {InRoot, "in-root"}, {forceWalk, "walk"}} {
		if how&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	if rest := how &^ knownResolve; rest != 0 {
		parts = append(parts, "0x"+strings.ToLower(hexByte(byte(rest))))
	}
	return strings.Join(parts, "|")
}

func hexByte(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&0xf]})
}

// resolveFlags is the openat2 resolve mask for how. RESOLVE_BENEATH and
// RESOLVE_IN_ROOT are exclusive in the kernel; InRoot replaces BENEATH.
func (how Resolve) resolveFlags() uint64 {
	r := uint64(unix.RESOLVE_NO_MAGICLINKS)
	if how&InRoot != 0 {
		r |= unix.RESOLVE_IN_ROOT
	} else {
		r |= unix.RESOLVE_BENEATH
	}
	if how&NoXDev != 0 {
		r |= unix.RESOLVE_NO_XDEV
	}
	if how&NoSymlinks != 0 {
		r |= unix.RESOLVE_NO_SYMLINKS
	}
	return r
}

// forcedFallback is set by ForceFallback.
var forcedFallback atomic.Bool

// ForceFallback makes every resolution use the component-walking fallback
// instead of openat2, as on a kernel without it. It exists for tests (of
// this package and of its callers); it returns the previous setting.
func ForceFallback(force bool) (previous bool) { return forcedFallback.Swap(force) }

// OpenBeneath opens path beneath dirfd. O_CLOEXEC is always added. O_NOFOLLOW
// refuses (or, with O_PATH, opens) a symlink in the last component only, as
// for openat(2); symlinks earlier in the path are followed beneath dirfd
// unless how has NoSymlinks.
//
// A path that would leave dirfd fails with an error matching ErrEscape; an
// empty path or one with a NUL byte with ErrBadName.
func OpenBeneath(dirfd int, path string, flags int, mode uint32, how Resolve) (int, error) {
	fd, err := openBeneath(dirfd, path, flags, mode, how)
	if err != nil {
		return -1, pathError("open", path, err)
	}
	return fd, nil
}

// openBeneath is OpenBeneath without the *PathError wrapping, for callers
// that wrap with their own operation name.
func openBeneath(dirfd int, path string, flags int, mode uint32, how Resolve) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, err
	}
	if how&^knownResolve != 0 {
		return -1, unix.EINVAL
	}
	flags |= unix.O_CLOEXEC
	// openat2 rejects what openat ignores: a mode without O_CREAT or
	// O_TMPFILE, and file-type bits in the mode (EINVAL). Callers pass
	// 0o666-style defaults and converted os.FileModes freely, so keep only
	// what openat would have used.
	if flags&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
		mode = 0
	}
	mode &= 0o7777
	if how&forceWalk == 0 && !forcedFallback.Load() && openat2Usable() {
		fd, err := openat2Beneath(dirfd, path, flags, mode, how)
		if !openat2Refused(err) {
			return fd, err
		}
	}
	return walkBeneath(dirfd, path, flags, mode, how)
}

// checkPath rejects what no resolver should ever see.
func checkPath(path string) error {
	if path == "" {
		return badName("empty path", unix.ENOENT)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return badName("NUL byte in path", unix.EINVAL)
	}
	return nil
}

// OpenParent resolves all but the last component of path beneath dirfd and
// returns an O_PATH|O_DIRECTORY fd for that directory together with the last
// component. The name is a single component, never "", "." or "..", so an *at
// system call on (parentfd, name) touches exactly one entry of a directory
// already proven to be beneath dirfd. Trailing slashes are dropped
// ("a/b/" names "b" in "a"): a caller that acts on the name must apply the
// kernel's trailing-slash rules itself (the package's own entry operations
// do, through openFinal).
func OpenParent(dirfd int, path string, how Resolve) (parentfd int, name string, err error) {
	parentfd, name, err = openParent(dirfd, path, how)
	if err != nil {
		return -1, "", pathError("openparent", path, err)
	}
	return parentfd, name, nil
}

func openParent(dirfd int, path string, how Resolve) (int, string, error) {
	if err := checkPath(path); err != nil {
		return -1, "", err
	}
	dir, name, _ := splitParent(path)
	switch name {
	case "":
		return -1, "", badName("no final name", unix.EINVAL)
	case ".", "..":
		return -1, "", badName("final name "+name, unix.EINVAL)
	}
	fd, err := openBeneath(dirfd, dir, unix.O_PATH|unix.O_DIRECTORY, 0, how)
	if err != nil {
		return -1, "", err
	}
	return fd, name, nil
}

// openFinal resolves all but the last component of path beneath dirfd, as
// openParent, and returns the last component in the form the kernel's own
// entry system calls see it: "x", "x/" when path ends in slashes (which
// the kernel reads as "must be a directory"), or "." or ".." when the path
// ends so (for "/" under InRoot, "."). Passing that name to mkdirat,
// unlinkat, renameat2, symlinkat or to linkat's new path, relative to the
// returned directory, is safe: the kernel never follows a symlink in the
// final component of those calls, with or without a trailing slash, and
// answers a final "." or ".." with an errno (EEXIST, EISDIR, EINVAL,
// ENOTEMPTY, EBUSY) without acting. So the kernel's own trailing-slash and
// dot rules apply, on both resolvers, and nothing is dropped or cleaned
// lexically. Calls that do follow a final symlink when the path ends in a
// slash (readlink, linkat's old path) must not be given such a name; see
// resolvesFinal.
func openFinal(dirfd int, path string, how Resolve) (int, string, error) {
	if err := checkPath(path); err != nil {
		return -1, "", err
	}
	dir, name, slash := splitParent(path)
	if name == "" {
		name = "." // "/", "//": the root itself
	}
	fd, err := openBeneath(dirfd, dir, unix.O_PATH|unix.O_DIRECTORY, 0, how)
	if err != nil {
		return -1, "", err
	}
	if slash && name != "." && name != ".." {
		name += "/"
	}
	return fd, name, nil
}

// resolvesFinal reports whether a lookup of path (as opposed to an entry
// operation on its final name) must resolve the final component itself: a
// trailing slash makes the kernel follow a final symlink and require a
// directory, and a final "." or ".." names a directory, not an entry.
func resolvesFinal(path string) bool {
	_, name, slash := splitParent(path)
	return slash || name == "" || name == "." || name == ".."
}

// splitParent splits path into the directory to resolve and the final
// component, and reports whether the path ended in one or more slashes.
// The directory of a bare name is ".", of "/x" is "/" (which resolves to
// an escape, or to the root under InRoot). Nothing is cleaned: "a/../b"
// has the directory "a/..", which the resolver walks as the kernel would
// (a symlink a -> b/c makes it b).
func splitParent(path string) (dir, name string, slash bool) {
	trimmed := strings.TrimRight(path, "/")
	slash = len(trimmed) < len(path)
	if trimmed == "" {
		return "/", "", slash
	}
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 {
		return ".", trimmed, slash
	}
	dir = trimmed[:i]
	if dir == "" {
		dir = "/"
	}
	return dir, trimmed[i+1:], slash
}
