package vfsops

// Probes for `capfd check`: which resolution and procfs mechanisms this
// kernel gives the library. They report; they never change the policy the
// resolvers follow.

// ProbeOpenat2 returns nil if openat2(2) is usable here, else the error that
// stopped it (ENOSYS on old kernels, a seccomp filter's errno). Without it,
// resolution falls back to the component walker.
func ProbeOpenat2() error { return probeOpenat2() }

// ProcfsMode describes the hardened procfs handle the library would use:
// "private" (a detached fsopen("proc") instance nobody else can mount over)
// or "verified" (/proc, checked to be the root of a procfs mount).
func ProcfsMode() (string, error) {
	if _, err := procRoot(); err != nil {
		return "", err
	}
	procfs.mu.Lock()
	defer procfs.mu.Unlock()
	if procfs.private {
		return "private", nil
	}
	return "verified", nil
}
