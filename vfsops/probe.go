package vfsops

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ProbeOpenat2 reports whether resolution uses openat2 on this system: nil
// if openat2 exists, is not refused by a seccomp filter, and accepts
// RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS; otherwise why not (resolution then
// uses the fallback walker, see ForceFallback).
func ProbeOpenat2() error {
	if err := probeOpenat2(); err != nil {
		return fmt.Errorf("openat2: %w", err)
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := openat2Retrying(unix.AT_FDCWD, ".", &how)
	if err != nil {
		return fmt.Errorf("openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS: %w", err)
	}
	unix.Close(fd)
	return nil
}

// ProcfsMode opens (if not yet open) the hardened procfs handle and says
// which kind it is: "private" for a detached procfs instance of our own
// (fsopen), "clone" for a detached clone of the /proc mount (open_tree);
// both need CAP_SYS_ADMIN. "/proc" is the verified host /proc.
func ProcfsMode() (string, error) {
	if _, err := procRoot(); err != nil {
		return "", fmt.Errorf("procfs handle: %w", err)
	}
	procfs.mu.Lock()
	defer procfs.mu.Unlock()
	return procfs.kind, nil
}
