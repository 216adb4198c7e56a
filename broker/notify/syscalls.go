package notify

// Syscalls names the syscalls the supervisor answers, for the filter's
// Notify rule.
func Syscalls() []string {
	out := make([]string, len(served))
	for i, s := range served {
		out[i] = s.name
	}
	return out
}

// Refused names the path syscalls the supervisor does not serve, and the
// cross-process ones, for the filter's EPERM rule. A syscall some kernels
// lack (getxattrat before 6.13) is in the list; callers keep the known ones.
func Refused() []string { return append([]string(nil), refused...) }
