package launch

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// treeContainment is how the launcher makes the program's whole process
// tree end with it.
//
// The parent-death signal reaches one process only: SIGKILL of `capfd
// run` killed the program, but `sh -c 'sleep 300 & sleep 300'` left both
// sleeps running as orphans of init. So stage 2 is started as the init of a
// new PID namespace and the program is its child. Stage 2 has the
// parent-death signal, and when the init of a PID namespace dies the
// kernel kills every process in it (zap_pid_ns_processes): nothing the
// program starts, however it detaches (double fork, setsid, a new process
// group), can outlive the launcher, even one killed with SIGKILL, which
// leaves it no chance to clean up. bubblewrap's --unshare-pid and crun do
// the same.
//
// A new PID namespace needs CAP_SYS_ADMIN; without it, a user namespace
// owned by the caller is created along with it (one uid and gid mapped to
// themselves), where unprivileged user namespaces are allowed. Where
// neither is possible the launcher says so and runs the program as before:
// the direct child still dies with the launcher, its descendants may not.
type treeContainment int

const (
	containNone   treeContainment = iota // no namespace: parent-death signal only
	containPidNS                         // a new PID namespace (CAP_SYS_ADMIN)
	containUserNS                        // a new user and PID namespace
)

func (c treeContainment) String() string {
	switch c {
	case containPidNS:
		return "PID namespace"
	case containUserNS:
		return "user and PID namespace"
	}
	return "none"
}

// containmentAttrs returns the clone attributes for c.
func containmentAttrs(c treeContainment) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	switch c {
	case containPidNS:
		attr.Cloneflags = unix.CLONE_NEWPID
	case containUserNS:
		attr.Cloneflags = unix.CLONE_NEWPID | unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	return attr
}

// NoNamespaceEnv, set to 1 in the launcher's environment, makes Run use no
// namespace, as on a host that allows none: for tests that show what the
// namespace prevents, and for hosts where creating one misbehaves. The
// warning still says so. Options.NoNamespace does the same from code.
const NoNamespaceEnv = "CAPFD_RUN_NO_NAMESPACE"

// containments lists what to try, best first: a plain PID namespace when we
// hold CAP_SYS_ADMIN, else one inside a user namespace; none as the last
// resort, and the only one when namespaces are disabled.
func containments(disabled bool) []treeContainment {
	if disabled {
		return []treeContainment{containNone}
	}
	if haveCapSysAdmin() {
		return []treeContainment{containPidNS, containUserNS, containNone}
	}
	return []treeContainment{containUserNS, containNone}
}

// namespaceRefused reports whether a start failed because the namespace
// could not be created (as opposed to the program or the machine failing).
func namespaceRefused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSPC) ||
		errors.Is(err, unix.EUSERS) || errors.Is(err, unix.EACCES)
}

func haveCapSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0
}
