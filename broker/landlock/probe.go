package landlock

import (
	"errors"
	"fmt"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Probe returns the Landlock ABI version of the running kernel, or why
// Landlock cannot be used here.
func Probe() (abi int, err error) {
	abi, err = ll.LandlockGetABIVersion()
	switch {
	case errors.Is(err, unix.ENOSYS):
		return 0, fmt.Errorf("landlock: kernel built without CONFIG_SECURITY_LANDLOCK (or older than 5.13): %w", err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return 0, fmt.Errorf("landlock: supported but not enabled at boot (add landlock to lsm=): %w", err)
	case err != nil:
		return 0, fmt.Errorf("landlock: landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION): %w", err)
	case abi < 1:
		return abi, fmt.Errorf("landlock: kernel reports ABI %d", abi)
	}
	return abi, nil
}
