package launch

import "fmt"

// Mode is how `capfd run` answers the program's path syscalls.
type Mode string

const (
	// ModeAuto is kernel mode where this host and these grants allow it,
	// the brokered mode elsewhere.
	ModeAuto Mode = "auto"
	// ModeKernel lets the kernel answer, in the program's own view of the
	// filesystem, the path syscalls it decides exactly as the rights model
	// does (notify: kernelmode.go), and fails where it cannot be had.
	ModeKernel Mode = "kernel"
	// ModeBrokered sends every path syscall to the supervisor.
	ModeBrokered Mode = "brokered"
)

// ParseMode parses a --mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeKernel, ModeBrokered:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("unknown mode %q (auto, kernel or brokered)", s)
}
