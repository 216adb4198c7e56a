package notify

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// chdir(path)
//
// The working directory confers nothing (relative paths are matched by
// name, see locate), so chdir used to run natively. But its answer does:
// ENOENT or success for a directory outside every grant tells whether it
// exists, and every other path call answers such a path with the same
// EACCES whether it exists or not. So chdir is notified: a path outside
// every grant (or one whose grant lacks lookup) is refused with EACCES
// like any other; one inside is given back to the kernel
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE), since no supervisor can set another
// task's working directory. So is a directory above a grant ("/", "/tmp"
// for a grant on /tmp/work): the grant's existence already says it exists,
// and daemons chdir("/") as they start.
//
// That is one of the two uses of CONTINUE (the other: connect and bind of
// sockets that are not Unix ones, sysConnect), and why it is safe here: the kernel
// re-reads the path, so a thread racing to rewrite it after the check can
// make chdir go elsewhere, but "elsewhere" only changes which name later
// relative paths are matched by (nothing is opened, no rights are used),
// and the one thing such a race can learn is whether the other directory
// exists: the leak this closes for every program that does not race its
// own chdir.
func sysChdir(c *call) result {
	const op = "chdir"
	p, errno := c.readPath(c.arg(0), &c.path)
	if errno != 0 {
		return fail(errno)
	}
	l, errno := c.locate(unix.AT_FDCWD, p)
	if errno != 0 {
		return resultFor(errno)
	}
	if l.g == nil && c.s.grants.above(l.abs) {
		return result{resume: true, fd: -1}
	}
	if errno := c.check(&l, need{op: op, object: rights.Lookup, follow: true}); errno != 0 {
		return fail(errno)
	}
	if l.g.fd < 0 {
		return fail(unix.ENOENT)
	}
	return result{resume: true, fd: -1}
}
