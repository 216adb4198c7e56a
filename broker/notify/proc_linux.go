package notify

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// umask is the task's file mode creation mask, which the kernel would have
// applied to the task's own create; the supervisor applies it by hand. It
// comes from the /proc/TID/status read for this notification (see
// callerCreds); 022 if procfs does not say.
func (c *call) umask() uint32 {
	cr, errno := c.callerCreds()
	if errno != 0 {
		return 0o022
	}
	return cr.umask
}

func errnoIs(err error, errno unix.Errno) bool { return errors.Is(err, errno) }

// fstat and statEntry fill st in place, the shape the handlers were
// written in, through vfsops (the one filesystem syscall layer).
func fstat(fd int, st *unix.Stat_t) (err error) {
	*st, err = vfsops.Fstat(fd)
	return err
}

func statEntry(dirfd int, name string, st *unix.Stat_t) (err error) {
	*st, err = vfsops.StatEntry(dirfd, name)
	return err
}
