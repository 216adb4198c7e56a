package vfsops

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Processes the caller's pid namespace cannot see.
//
// A process in an ancestor pid namespace of the caller's (a broker in a
// container or under `unshare --pid` serving a client on the host) has no
// pid in the caller's namespace: SO_PEERCRED says 0, and a procfs of the
// caller's namespace (the private handle, fsopen("proc")) has no directory
// for it. A pidfd of it still names it (SO_PEERPIDFD, Linux 6.5), and the
// pidfd's fdinfo says its pid as the procfs it is read through sees it
// ("Pid:"; 0 where that procfs's namespace does not see it). The /proc
// mounted in the caller's mount namespace may be an ancestor namespace's
// procfs, which does see it: a detached clone of that mount (open_tree
// OPEN_TREE_CLONE, verified as procRoot verifies, and like the private
// handle nothing can be mounted over its files) is where the process's
// pid and directory are read. PIDFD_GET_INFO (Linux 6.13) refuses such a
// process (EREMOTE), so it cannot stand in.

// ErrNoPid is OpenProcPidfd's answer for a process that no procfs the
// caller can verify sees.
var ErrNoPid = errors.New("the process has no pid in any verified procfs")

var mountProcfs struct {
	once sync.Once
	fd   int // -1 if none
}

// mountProcRoot returns a verified, detached clone of the /proc mount, or
// -1 where the procfs handle is that mount already (or no clone can be
// had). Opened once; callers must not close it.
func mountProcRoot() int {
	mountProcfs.once.Do(func() {
		mountProcfs.fd = -1
		procfs.mu.Lock()
		kind := procfs.kind
		procfs.mu.Unlock()
		if kind != "private" {
			return // the handle is /proc's own procfs, or its clone
		}
		fd, err := clonePrivateProcfs()
		if err != nil {
			return
		}
		if verifyProcRoot(fd) != nil {
			unix.Close(fd)
			return
		}
		mountProcfs.fd = fd
	})
	return mountProcfs.fd
}

// OpenProcPidfd opens the task directory of pidfd's process, and returns
// it with the process's pid in the procfs it was opened in: the verified
// procfs handle if that sees the process, else the clone of the /proc
// mount (see above). The directory is the process's: after the open the
// pidfd's fdinfo still says the same pid (it says -1 once the process
// has exited, and a live process's pid is its own), and as with
// OpenProcPid the directory stays bound to the process it was opened for.
// (pidfd_send_signal, OpenProcPid's callers' liveness check, refuses a
// process outside the caller's pid namespace.)
func OpenProcPidfd(pidfd int) (ProcPid, int, error) {
	root, err := procRoot()
	if err != nil {
		return ProcPid{dir: -1}, 0, fdError("open procfs of pidfd", pidfd, err)
	}
	roots := []int{root}
	if m := mountProcRoot(); m >= 0 {
		roots = append(roots, m)
	}
	for _, root := range roots {
		pid, err := pidfdPid(root, pidfd)
		if err != nil {
			return ProcPid{dir: -1}, 0, fdError("open procfs of pidfd", pidfd, err)
		}
		if pid <= 0 {
			continue
		}
		dir, err := openProcEntry(root, strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return ProcPid{dir: -1}, 0, pathError("open procfs", strconv.Itoa(pid), err)
		}
		if again, err := pidfdPid(root, pidfd); err != nil || again != pid {
			unix.Close(dir)
			return ProcPid{dir: -1}, 0, fdError("open procfs of pidfd", pidfd, unix.ESRCH)
		}
		return ProcPid{dir: dir}, pid, nil
	}
	return ProcPid{dir: -1}, 0, fdError("open procfs of pidfd", pidfd, ErrNoPid)
}

// pidfdPid reads the "Pid:" line of pidfd's fdinfo in the procfs root:
// the pid there of the process pidfd refers to, 0 if root's namespace does
// not see it, -1 if it has exited.
func pidfdPid(root, pidfd int) (int, error) {
	fd, err := openProcEntry(root, "thread-self/fdinfo/"+fdName(pidfd), unix.O_RDONLY)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), "fdinfo")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("Pid:")); ok {
			pid, err := strconv.Atoi(string(bytes.TrimSpace(rest)))
			if err != nil {
				return 0, err
			}
			return pid, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("fdinfo has no Pid line: not a pidfd")
}
