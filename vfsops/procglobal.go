package vfsops

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// The system-wide procfs files (cpuinfo, meminfo, ...).
//
// The private procfs handle (procfs.go) is mounted with subset=pid: it
// holds task directories only. A supervisor that shows a confined program
// the system-wide files its runtime reads needs a procfs with them, so it
// gets a second handle: a fresh instance without subset where the kernel
// allows one (nothing can be mounted over its files), else /proc itself,
// verified as a procfs root. Names are looked up beneath it as in the
// private one (procfsLookupResolve: no escape, no mount crossing, no magic
// link), and only opened read-only.

var procGlobal struct {
	once sync.Once
	fd   int
	err  error
}

func procGlobalRoot() (int, error) {
	procGlobal.once.Do(func() {
		procGlobal.fd, procGlobal.err = openProcGlobalRoot()
	})
	return procGlobal.fd, procGlobal.err
}

func openProcGlobalRoot() (int, error) {
	if fsfd, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC); err == nil {
		defer unix.Close(fsfd)
		if err := unix.FsconfigCreate(fsfd); err == nil {
			if mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err == nil {
				if err := verifyProcRoot(mfd); err == nil {
					return mfd, nil
				}
				unix.Close(mfd)
			}
		}
	}
	fd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /proc: %w", err)
	}
	if err := verifyProcRoot(fd); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("/proc: %w", err)
	}
	return fd, nil
}

// OpenProcGlobal opens the system-wide procfs file name ("meminfo",
// "sys/kernel/osrelease") read-only. Which names a program may see is the
// caller's decision.
func OpenProcGlobal(name string) (int, error) {
	if err := checkProcName(name); err != nil {
		return -1, pathError("open procfs", name, err)
	}
	root, err := procGlobalRoot()
	if err != nil {
		return -1, pathError("open procfs", name, err)
	}
	fd, err := openProcEntry(root, name, unix.O_RDONLY|unix.O_NOFOLLOW)
	return fd, pathError("open procfs", name, err)
}
