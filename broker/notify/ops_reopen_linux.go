package notify

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Re-opening a descriptor by its name.
//
// /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N name
// descriptors the program already holds: shells open them for "> /dev/stderr"
// and process substitution (<(cmd) is /dev/fd/63), scripts read
// /dev/stdin. Opening one is re-opening the file the descriptor refers to,
// which is also the oldest way to get more than a descriptor gives (the
// O_PATH or read-only descriptor re-opened for writing), so it is decided
// on that file, held by the supervisor's duplicate of the descriptor (no
// name is resolved again):
//
//   - with no more than the descriptor has (the same access mode or a
//     narrower one; O_APPEND kept if it had it), it gives nothing new and
//     is allowed, whatever the file (a pipe, the caller's terminal, a file
//     no grant names): the program could use the descriptor itself; and
//     O_TRUNC through a writable one is the ftruncate it could make on
//     it, decided as that is (checkData);
//   - anything more (an O_PATH descriptor opened for reading, a read-only
//     one for writing, O_TRUNC, dropping O_APPEND) needs the rights of the
//     object, as opening it by its own name in its grant would; outside
//     every grant it is refused.
//
// The supervisor re-opens its duplicate through its own procfs
// (vfsops.Reopen) with the program's credentials and installs the result.

// descriptorName parses a name of one of the task's own descriptors. In
// /proc only self and thread-self are taken: the task's /proc is the
// host's, where a /proc/PID name would be read with the host's numbering,
// not the program's.
func descriptorName(p string) (int32, bool) {
	switch p {
	case "/dev/stdin":
		return 0, true
	case "/dev/stdout":
		return 1, true
	case "/dev/stderr":
		return 2, true
	}
	for _, dir := range []string{"/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"} {
		if rest, ok := strings.CutPrefix(p, dir); ok {
			n, err := strconv.ParseInt(rest, 10, 32)
			if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
				return -1, false
			}
			return int32(n), true
		}
	}
	return -1, false
}

// reopenDescriptor answers an open of the name of descriptor n.
func (c *call) reopenDescriptor(n int32, p string, flags int, op string) result {
	switch {
	case flags&(unix.O_PATH|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0:
		return fail(unix.EINVAL)
	case flags&unix.O_NOFOLLOW != 0:
		return fail(unix.ELOOP) // each of these names is a link (magic, or to one)
	case flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL:
		if fd, errno := c.taskFd(n); errno == 0 {
			unix.Close(fd)
			return fail(unix.EEXIST)
		}
	}
	dup, errno := c.taskFd(n)
	if errno != 0 {
		if errno == unix.EBADF {
			return fail(unix.ENOENT) // what /proc/self/fd says of a closed descriptor
		}
		return resultFor(errno)
	}
	defer unix.Close(dup)
	if abs, ok := c.s.standins.of(dup); ok {
		// An O_PATH stand-in: what the name of an O_PATH descriptor
		// opens, the object itself, by name (a final symlink is not
		// followed: ELOOP, as through the magic link).
		return c.openByName(abs, flags|unix.O_NOFOLLOW, op)
	}
	had, err := vfsops.StatusFlags(dup)
	if err != nil {
		return fail(unix.EIO)
	}
	truncates := flags&unix.O_TRUNC != 0 && had&unix.O_ACCMODE != unix.O_RDONLY && had&unix.O_PATH == 0
	if truncates {
		// O_TRUNC through a writable descriptor is ftruncate on it,
		// decided as that is (checkData: the kernel's own rule for
		// what no grant names, such as the caller's "2> log"; the
		// object's truncate right in a grant).
		if errno := c.checkData(dup, op, rights.Truncate); errno != 0 {
			return fail(unix.EACCES)
		}
	}
	if !reopenWithin(had, flags&^unix.O_TRUNC) || flags&unix.O_TRUNC != 0 && !truncates {
		o := c.objectOf(dup)
		file, _, _ := openNeeds(flags &^ (unix.O_CREAT | unix.O_EXCL))
		need := file.Without(rights.Lookup)
		if missing := o.objectRights().Missing(need); missing != 0 || o.noPath || o.gone {
			why := "more than the descriptor gives"
			if o.l.g != nil {
				why += "; " + o.l.g.describe()
			}
			c.refuse(op, p, missing|need, why)
			return fail(unix.EACCES)
		}
	}
	fd := -1
	err = c.asCaller(func() (err error) {
		fd, err = vfsops.Reopen(dup, flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC))
		return err
	})
	if err != nil {
		return fail(c.errnoOf(op, location{abs: p}, err))
	}
	return installFd(fd, flags&unix.O_CLOEXEC != 0)
}

// reopenWithin reports whether an open with flags asks for no more than a
// descriptor with status flags had gives.
func reopenWithin(had, flags int) bool {
	if had&unix.O_PATH != 0 || flags&unix.O_TRUNC != 0 {
		return false
	}
	if had&unix.O_APPEND != 0 && flags&unix.O_APPEND == 0 && flags&unix.O_ACCMODE != unix.O_RDONLY {
		return false
	}
	switch have, want := had&unix.O_ACCMODE, flags&unix.O_ACCMODE; {
	case have == unix.O_RDWR:
		return want != 3
	default:
		return want == have
	}
}
