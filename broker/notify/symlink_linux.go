package notify

import (
	"errors"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// maxHops bounds how many symlinks leading out of a grant one lookup may
// follow, as MAXSYMLINKS (40) bounds the kernel's.
const maxHops = 40

// followOut handles a lookup that failed because a symlink beneath the
// grant leads outside it (an absolute target, or one climbing above the
// grant). Such a symlink is not an attack in itself: /usr/share/locale/
// locale.alias -> /etc/locale.alias is one. The supervisor reads the first
// symlink on the path, splices its target into the path as the kernel
// would, and locates the result again, against all grants.
//
// That gives the program exactly the access it would have by naming the
// target itself: the new path is matched and checked like any other, with
// the same needs, and resolved beneath the grant it falls in. A symlink
// pointing outside every grant stays refused.
func (c *call) followOut(l location) (location, bool) {
	if l.g == nil || l.g.fd < 0 || l.rest == "." {
		return l, false
	}
	rest := strings.TrimSuffix(l.rest, "/")
	comps := strings.Split(rest, "/")
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		var target string
		err := c.asCaller(func() (err error) {
			target, err = vfsops.Readlink(l.g.fd, prefix, resolveHow)
			return err
		})
		if err != nil {
			if errors.Is(err, unix.EINVAL) {
				continue // not a symlink
			}
			return l, false
		}
		// The path up to the symlink has no symlink in it (this is the
		// first), so joining its directory with the target lexically is
		// what the kernel does.
		linkDir := l.abs
		for range comps[i:] {
			linkDir = path.Dir(linkDir)
		}
		next := target
		if !path.IsAbs(target) {
			next = linkDir + "/" + target
		}
		if remaining := comps[i+1:]; len(remaining) > 0 {
			next += "/" + strings.Join(remaining, "/")
		}
		next = path.Clean(next)
		g, r := c.s.grants.match(next)
		if g != nil && r != "." && strings.HasSuffix(l.rest, "/") {
			r += "/"
		}
		return location{abs: next, g: g, rest: r}, true
	}
	return l, false
}

// resolveOut runs try on l and, while it fails with an escape through a
// symlink, on the location the symlink leads to, re-checked with n. It
// returns the location finally used, so errors name the right path.
//
// A non-zero errno is a refusal (or ENOENT) of the location a symlink led
// to, already logged; err is try's own failure.
func (c *call) resolveOut(l location, n need, try func(location) error) (location, unix.Errno, error) {
	for hop := 0; ; hop++ {
		err := try(l)
		if err == nil || !errors.Is(err, vfsops.ErrEscape) || hop == maxHops {
			return l, 0, err
		}
		next, ok := c.followOut(l)
		if !ok {
			return l, 0, err
		}
		if errno := c.check(&next, n); errno != 0 {
			return next, errno, nil
		}
		if next.g.fd < 0 {
			return next, unix.ENOENT, nil
		}
		l = next
	}
}
