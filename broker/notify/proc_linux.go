package notify

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// umask is the task's file mode creation mask, which the kernel would have
// applied to the task's own create; the supervisor applies it by hand.
// Falls back to 022 if procfs does not say.
func (c *call) umask() uint32 {
	const fallback = 0o022
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid()) + "/status")
	if err != nil {
		return fallback
	}
	_, after, found := strings.Cut(string(b), "\nUmask:\t")
	if !found {
		return fallback
	}
	line, _, _ := strings.Cut(after, "\n")
	v, err := strconv.ParseUint(line, 8, 32)
	if err != nil {
		return fallback
	}
	return uint32(v) & 0o777
}

func errnoIs(err error, errno unix.Errno) bool { return errors.Is(err, errno) }
