package enforce

import "fmt"

// Mode says how much kernel enforcement the broker insists on.
type Mode int

const (
	// Auto uses BPF LSM when this kernel can load it and otherwise serves
	// without it, logging why.
	Auto Mode = iota
	// Off never loads anything into the kernel.
	Off
	// Require refuses to start unless BPF LSM loads.
	Require
)

// ParseMode reads a mode as written in the configuration or on the command
// line; "" is Auto.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "off":
		return Off, nil
	case "require":
		return Require, nil
	}
	return 0, fmt.Errorf("kernel mode %q: want auto, off or require", s)
}

func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Off:
		return "off"
	case Require:
		return "require"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}
