package ia32

// Getpid calls i386 getpid (20) through int 0x80 and returns the raw
// result: the pid, or a negative errno.
func Getpid() int32

// Supported: int 0x80 exists on amd64 (it may still be disabled at boot).
const Supported = true
