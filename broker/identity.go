package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Identity is who is on the other end of a connection, as the kernel tells
// it: credentials from SO_PEERCRED, and a pidfd that names the very process
// (not a pid number that could be recycled), through which the executable
// and the cgroup are read.
type Identity struct {
	PID    int32
	UID    uint32
	GID    uint32
	Exe    string // the executable's path, "" if unreadable
	Cgroup string // the cgroup v2 path, "" if unknown
	// PidFD refers to the peer process for as long as the connection is
	// served, -1 if none could be had. The broker owns and closes it; it
	// is valid during Config.OnConnect (the kernel layer marks the client
	// through it).
	PidFD int

	pidfdErr error // why there is no pidfd (EMFILE, say), for a refusal's reason
}

// LogValue makes an Identity a tidy group in the audit log.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("pid", int(id.PID)),
		slog.Int("uid", int(id.UID)),
		slog.Int("gid", int(id.GID)),
		slog.String("exe", id.Exe),
		slog.String("cgroup", id.Cgroup),
	)
}

// peerIdentity reads the identity of uc's peer.
//
// Why the pidfd: SO_PEERCRED's pid is a number, and by the time the broker
// reads /proc/<pid> the process may have exited and the number been reused
// by another. SO_PEERPIDFD (Linux 6.5) gives a pidfd for the process that
// connected, atomically. On older kernels pidfd_open(pid) is the fallback,
// which narrows the window to the moment between connect and accept. Either
// way, the exe and cgroup are read through the peer's procfs directory
// only once the pidfd has said its process is alive after that directory
// was opened (procIdentity).
func peerIdentity(uc *net.UnixConn) (Identity, error) {
	id := Identity{PidFD: -1}
	raw, err := uc.SyscallConn()
	if err != nil {
		return id, err
	}
	var cred *unix.Ucred
	var credErr error
	pidfd := -1
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if credErr != nil {
			return
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = v
		}
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return id, fmt.Errorf("peer credentials: %w", err)
	}
	id.PID, id.UID, id.GID = cred.Pid, cred.Uid, cred.Gid
	if pidfd < 0 && cred.Pid > 0 {
		fd, err := unix.PidfdOpen(int(cred.Pid), 0)
		if err == nil {
			pidfd = fd
		} else {
			id.pidfdErr = fmt.Errorf("pidfd: %w", err)
		}
	}
	if pidfd >= 0 {
		unix.CloseOnExec(pidfd)
	}
	id.PidFD = pidfd
	if cred.Pid <= 0 {
		// Not in the broker's pid namespace (an ancestor's): found
		// through the pidfd where a procfs the broker can verify sees
		// it (vfsops.OpenProcPidfd), else only uid and gid are known.
		if pidfd >= 0 {
			if dir, pid, err := vfsops.OpenProcPidfd(pidfd); err == nil {
				id.Exe, id.Cgroup = readIdentity(dir, true)
				if id.Exe != "" || id.Cgroup != "" {
					id.PID = int32(pid)
				}
			}
		}
		return id, nil
	}
	id.Exe, id.Cgroup = procIdentity(int(cred.Pid), pidfd)
	return id, nil
}

// procIdentity reads the executable and the cgroup v2 path of process pid,
// "" for what it cannot read, through vfsops.ProcPid: beneath the verified
// procfs handle, not "/proc/"+pid, since a /proc that is not procfs, or has
// something mounted over PID/exe, would name an executable of an
// attacker's choosing, and Match.Exe and Match.Cgroup decide which rule a
// client gets. A ProcPid is bound to the process it was opened for (reads
// fail once it exits, never reach a process that reuses the number), so
// pidfd alive after the open proves that what is read is pidfd's process's.
// (A private procfs handle hides the tasks the broker could not ptrace;
// it is private only for a broker with CAP_SYS_ADMIN, which can, and the
// exe link needs that access through any procfs.)
func procIdentity(pid, pidfd int) (exe, cgroup string) {
	dir, err := vfsops.OpenProcPid(pid)
	if err != nil {
		return "", ""
	}
	return readIdentity(dir, pidfd >= 0 && unix.PidfdSendSignal(pidfd, 0, nil, 0) == nil)
}

// readIdentity reads the executable and cgroup in dir, a process's task
// directory, if the pidfd's process was alive after dir was opened (so
// dir is that process's); it closes dir.
func readIdentity(dir vfsops.ProcPid, alive bool) (exe, cgroup string) {
	defer dir.Close()
	if !alive {
		// Without a live pidfd the directory may be another process's.
		return "", ""
	}
	if target, err := dir.Readlink("exe"); err == nil {
		exe = target
	}
	if cg, err := readCgroup(dir); err == nil {
		cgroup = cg
	}
	return exe, cgroup
}

// readCgroup returns the cgroup v2 path in a task directory's cgroup
// entry (its "0::/path" line).
func readCgroup(dir vfsops.ProcPid) (string, error) {
	fd, err := dir.Open("cgroup", unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), "cgroup")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("0::")); ok {
			return string(rest), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup v2 entry")
}

func (id *Identity) close() {
	if id.PidFD >= 0 {
		unix.Close(id.PidFD)
		id.PidFD = -1
	}
}
