package notify

import (
	"errors"

	"golang.org/x/sys/unix"
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
