//go:build !amd64

package ia32

// Getpid is not available off amd64.
func Getpid() int32 { panic("ia32: int 0x80 exists on amd64 only") }

// Supported is false: there is no i386 entry on this architecture.
const Supported = false
