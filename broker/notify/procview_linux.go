package notify

import (
	"bytes"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// The /proc view.
//
// procfs cannot be granted (grants.go: /proc/self resolved by the
// supervisor is the supervisor), yet language runtimes and coreutils read
// it: Go's os.Executable reads /proc/self/exe, node /proc/self/cgroup and
// /proc/meminfo, Java /proc/self/maps, Python's subprocess lists
// /proc/self/fd to close descriptors, ls and cp /proc/filesystems. So the
// supervisor shows the program a small procfs of its own, decided entry by
// entry, read-only:
//
//   - the program's own task directory, as /proc/self, /proc/thread-self
//     and /proc/PID (PID its own process id as its /proc numbers it): the
//     entries in ownFiles open read-only, from the task's directory in the
//     supervisor's verified procfs handle (vfsops.ProcPid, bound to the
//     task); the links in ownLinks (exe, cwd, fd/N) are read with readlink
//     and never opened: re-opening a descriptor or the executable through
//     them is the upgrade attack capfd exists to stop; the directory and
//     fd/ stat, and fd/ lists the program's own descriptors;
//   - the system-wide files in globalFiles, open read-only from a procfs
//     handle of their own (vfsops.OpenProcGlobal);
//   - nothing else: every other /proc path is absent, as any path outside
//     the view (skeleton_linux.go). Left out on purpose: mounts and
//     mountinfo (the host's mount table: its paths), the kernel command
//     line, other processes, anything writable, and /proc/sys but for a
//     few read-only values.
//
// "/proc" itself exists (stat), as an ancestor would.

// ownFiles are the program's own task entries it may read.
var ownFiles = map[string]bool{
	"status": true, "stat": true, "statm": true, "cmdline": true, "comm": true,
	"cgroup": true, "limits": true, "maps": true, "auxv": true, "environ": true,
	"sched": true, "io": true, "oom_score_adj": true, "loginuid": true,
}

// ownLinks are the program's own task links it may read (readlink), and
// only read.
var ownLinks = map[string]bool{"exe": true, "cwd": true}

// globalFiles are the system-wide procfs files a program may read.
var globalFiles = map[string]bool{
	"cpuinfo": true, "meminfo": true, "stat": true, "loadavg": true, "uptime": true,
	"version": true, "filesystems": true, "sys/kernel/osrelease": true, "sys/kernel/ostype": true,
	"sys/kernel/pid_max": true, "sys/vm/overcommit_memory": true, "sys/fs/nr_open": true,
}

// procPath is a path of the /proc view.
type procPath struct {
	own  bool   // in the program's own task directory
	name string // the entry ("" for the directory itself)
}

// procOf places abs in the /proc view.
func (c *call) procOf(abs string) (procPath, bool) {
	rest, ok := strings.CutPrefix(abs, "/proc")
	switch {
	case !ok:
		return procPath{}, false
	case rest == "":
		return procPath{}, true // /proc itself
	case rest[0] != '/':
		return procPath{}, false
	}
	first, name, _ := strings.Cut(rest[1:], "/")
	switch first {
	case "self", "thread-self":
	default:
		if tgid, ok := c.callerTgid(); !ok || first != strconv.Itoa(tgid) {
			if name == "" && globalFiles[first] || globalFiles[rest[1:]] {
				return procPath{name: rest[1:]}, true
			}
			return procPath{}, false
		}
	}
	return procPath{own: true, name: name}, true
}

// ownLink reports whether name is one of the program's links it may read.
func ownLink(name string) bool {
	if ownLinks[name] {
		return true
	}
	n, ok := strings.CutPrefix(name, "fd/")
	if !ok {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 31)
	return err == nil
}

// procOpenMeta opens a /proc view entry for stat and access: O_PATH, its
// links not followed. ok is false for a path that is not in the view.
func (c *call) procOpenMeta(p procPath) (fd int, ok bool, errno unix.Errno) {
	switch {
	case !p.own && p.name == "":
		fd, err := vfsops.OpenDirAmbient("/proc")
		return fd, err == nil, 0
	case !p.own:
		fd, err := vfsops.OpenProcGlobal(p.name)
		return fd, err == nil, 0
	}
	if !(p.name == "" || p.name == "fd" || ownFiles[p.name] || ownLink(p.name)) {
		return -1, false, 0
	}
	e, _, errno := c.procEntry(c.pid())
	if errno != 0 {
		return -1, false, errno
	}
	if p.name == "" {
		fd, err := e.dir.Dup()
		return fd, err == nil, 0
	}
	fd, err := e.dir.Open(p.name, unix.O_PATH)
	return fd, err == nil, 0
}

// procOpen answers a read-only open of a /proc view file (or of fd/, to
// list the program's own descriptors). ok is false for a path that is not
// in the view.
func (c *call) procOpen(p procPath, flags int) (fd int, ok bool, errno unix.Errno) {
	if flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC|unix.O_PATH|unix.O_TMPFILE&^unix.O_DIRECTORY) != unix.O_RDONLY {
		return -1, false, 0
	}
	if !p.own {
		if !globalFiles[p.name] {
			return -1, false, 0
		}
		fd, err := vfsops.OpenProcGlobal(p.name)
		return fd, err == nil, 0
	}
	if !ownFiles[p.name] && p.name != "fd" {
		return -1, false, 0
	}
	e, _, errno := c.procEntry(c.pid())
	if errno != 0 {
		return -1, false, errno
	}
	oflags := unix.O_RDONLY
	if p.name == "fd" {
		oflags |= unix.O_DIRECTORY
	}
	fd, err := e.dir.Open(p.name, oflags)
	return fd, err == nil, 0
}

// procReadlink reads a /proc view link: one of the program's own, or
// /proc/self itself.
func (c *call) procReadlink(p procPath, abs string) (string, bool) {
	if p.own && p.name == "" && (abs == "/proc/self" || abs == "/proc/thread-self") {
		tgid, ok := c.callerTgid()
		if !ok {
			return "", false
		}
		if abs == "/proc/thread-self" {
			return strconv.Itoa(tgid) + "/task/" + strconv.Itoa(c.pid()), true
		}
		return strconv.Itoa(tgid), true
	}
	if !p.own || !ownLink(p.name) {
		return "", false
	}
	e, _, errno := c.procEntry(c.pid())
	if errno != 0 {
		return "", false
	}
	target, err := e.dir.Readlink(p.name)
	return target, err == nil
}

// callerTgid is the notifying thread's process id, as /proc numbers it:
// the Tgid line of its status.
func (c *call) callerTgid() (int, bool) {
	e, _, errno := c.procEntry(c.pid())
	if errno != 0 {
		return 0, false
	}
	var buf [512]byte
	n, err := vfsops.Pread(e.status, buf[:], 0)
	if err != nil {
		return 0, false
	}
	_, rest, ok := bytes.Cut(buf[:n], []byte("\nTgid:\t"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	tgid, err := strconv.Atoi(string(line))
	return tgid, err == nil
}

// inProcView reports whether the /proc view answers for l when its path
// is in it: outside every grant, or in a learning grant (learn.go), which
// must not turn /proc into the raw procfs the view keeps out.
func (l location) inProcView() bool { return l.g == nil || l.g.Learn }
