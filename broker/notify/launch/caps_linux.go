package launch

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// dropCapabilities leaves the calling thread, and so the program it execs,
// with no capabilities at all: bounding set emptied (so no later exec can
// regain one), ambient set cleared, effective/permitted/inheritable zero.
//
// The supervisor performs every path operation, so the program needs no
// privilege for its files. Without this a program started by root would
// keep CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_ADMIN and the rest, and with
// them ways around any filter on paths (loading a module, raw I/O ports,
// namespaces, ...). It acts on the calling thread only: stage 2 runs locked
// to the thread that execs.
func dropCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Permitted == 0 && data[1].Permitted == 0 {
		// Nothing to drop, and no way to gain any: no_new_privs makes
		// exec ignore setuid bits and file capabilities. (Emptying the
		// bounding set would need CAP_SETPCAP, which we do not have.)
		return nil
	}
	for c := 0; ; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // past CAP_LAST_CAP
		}
		if err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	data = [2]unix.CapUserData{}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
