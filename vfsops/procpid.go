package vfsops

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Per-task procfs access, for a supervisor that reads another task's
// /proc/TID entries (its status, memory, fd and cwd links).
//
// Everything starts from the verified procfs handle (procfs.go), never
// from a "/proc/..." string: a "/proc" that is not procfs, or a procfs
// with something mounted over TID/status or TID/fd, would hand the
// supervisor credentials, memory or path names of the attacker's
// choosing. The task directory is opened once with openat2 beneath the
// handle (procfsLookupResolve: no escape, no mount crossing, no magic
// link followed); its entries are then single names looked up in it.
//
// Cost is what the absolute paths cost before, or less: opening relative
// to a cached directory fd spares the kernel the walk from "/" through
// "proc". Only on the host /proc fallback, where a mount could sit on a
// task's fd directory, does reading a link through a subdirectory ("fd/N")
// take the checked route of withProcFd (a few more system calls): there is
// no other way to prove that the link read is procfs's own.
//
// Under a private procfs instance (mounted with hidepid=ptraceable) a task
// the caller may not ptrace-read is invisible. The supervisor can ptrace
// the tasks it confines (it reads their fd links and writes their memory,
// which need that anyway), so this hides nothing it uses.

// ProcPid is a task's directory in the verified procfs handle: /proc/TID.
// It is bound to the task it was opened for: if the task exits, reads
// through it fail (ESRCH) rather than reach a task that reuses the number.
type ProcPid struct {
	dir int
}

// OpenProcPid opens the directory of task tid (a thread or process id in
// the caller's pid namespace) beneath the verified procfs handle.
func OpenProcPid(tid int) (ProcPid, error) {
	if tid <= 0 {
		return ProcPid{dir: -1}, pathError("open procfs", strconv.Itoa(tid), unix.EINVAL)
	}
	name := strconv.Itoa(tid)
	root, err := procRoot()
	if err != nil {
		return ProcPid{dir: -1}, pathError("open procfs", name, err)
	}
	dir, err := openProcEntry(root, name, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return ProcPid{dir: -1}, pathError("open procfs", name, err)
	}
	return ProcPid{dir: dir}, nil
}

// OpenProcThreadSelf opens the calling thread's own task directory
// (thread-self, which procfs resolves to TGID/task/TID: an ordinary
// symlink, allowed beneath the handle). The caller should hold its OS
// thread locked while it matters which thread that is.
func OpenProcThreadSelf() (ProcPid, error) {
	root, err := procRoot()
	if err != nil {
		return ProcPid{dir: -1}, pathError("open procfs", "thread-self", err)
	}
	dir, err := openProcEntry(root, "thread-self", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return ProcPid{dir: -1}, pathError("open procfs", "thread-self", err)
	}
	return ProcPid{dir: dir}, nil
}

// Close closes the task directory.
func (p ProcPid) Close() error { return Close(p.dir) }

// Dup returns a new O_PATH descriptor of the task directory itself.
func (p ProcPid) Dup() (int, error) { return Dup(p.dir) }

// Open opens the entry name of the task directory ("status", "mem") with
// flags (O_CLOEXEC is added; a symlink in name is never followed).
func (p ProcPid) Open(name string, flags int) (int, error) {
	if err := checkProcName(name); err != nil {
		return -1, pathError("open procfs", name, err)
	}
	fd, err := openProcEntry(p.dir, name, flags|unix.O_NOFOLLOW)
	if err != nil {
		return -1, pathError("open procfs", name, err)
	}
	return fd, nil
}

// Readlink reads the link name of the task directory ("cwd", "fd/N",
// "ns/user"). These are magic links: their text is the kernel's name for
// the object, and reading it follows nothing, exactly as readlink(2) of
// /proc/TID/name would. The text is a name, never a capability.
func (p ProcPid) Readlink(name string) (string, error) {
	if err := checkProcName(name); err != nil {
		return "", pathError("readlink procfs", name, err)
	}
	target, err := readProcLink(p.dir, name)
	return target, pathError("readlink procfs", name, err)
}

// FdPath returns the name procfs gives the file open on the caller's own
// descriptor fd (readlink of self/fd/N): "/abs/path", "/abs/path
// (deleted)", "pipe:[123]", ... Like ProcPid.Readlink it is a name, not a
// capability: callers that act on it must check it names fd's file.
func FdPath(fd int) (string, error) {
	if fd < 0 {
		return "", fdError("readlink procfs fd", fd, unix.EBADF)
	}
	root, err := procRoot()
	if err != nil {
		return "", fdError("readlink procfs fd", fd, err)
	}
	target, err := readProcLink(root, "self/fd/"+fdName(fd))
	return target, fdError("readlink procfs fd", fd, err)
}

// checkProcName accepts relative names of plain components (no "", "."
// or ".." component): the entries of a task directory.
func checkProcName(name string) error {
	if err := checkPath(name); err != nil {
		return err
	}
	for _, comp := range strings.Split(name, "/") {
		if comp == "" || comp == "." || comp == ".." {
			return badName("not a procfs entry: "+name, unix.EINVAL)
		}
	}
	return nil
}

// openProcEntry opens name beneath dir, both on the verified procfs,
// without leaving it, crossing a mount or following a magic link. Without
// openat2 (before Linux 5.6) it falls back to openat of each component with
// O_NOFOLLOW, checked to stay on dir's mount.
func openProcEntry(dir int, name string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: procfsLookupResolve}
	fd, err := openat2Retrying(dir, name, &how)
	if err != unix.ENOSYS && err != unix.EPERM {
		return fd, err
	}
	return openProcEntryWalking(dir, name, flags)
}

func openProcEntryWalking(dir int, name string, flags int) (int, error) {
	comps := strings.Split(name, "/")
	if comps[0] == "self" || comps[0] == "thread-self" {
		// The symlinks a walk without openat2 must follow: ordinary
		// symlinks to "TGID" and "TGID/task/TID", checked for that shape.
		target, err := readlinkatBuf(dir, comps[0])
		if err != nil {
			return -1, err
		}
		tcomps := strings.Split(target, "/")
		for i, c := range tcomps {
			if _, err := strconv.Atoi(c); err != nil && !(i == 1 && c == "task") {
				return -1, fmt.Errorf("procfs %s points to %q: %w", comps[0], target, errNotProcRoot)
			}
		}
		comps = append(tcomps, comps[1:]...)
	}
	dirMnt, err := mountID(dir)
	if err != nil {
		return -1, err
	}
	cur := dir
	for i, comp := range comps {
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(comps)-1 {
			f = flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		next, err := ignoringEINTRFd(func() (int, error) { return unix.Openat(cur, comp, f, 0) })
		if cur != dir {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = next
		if mnt, err := mountID(cur); err != nil || mnt != dirMnt {
			unix.Close(cur)
			return -1, escape("mount over procfs", unix.EXDEV)
		}
	}
	return cur, nil
}

// readProcLink reads the link name beneath dir on the verified procfs. On a
// private handle nothing can be mounted anywhere in it, so one readlinkat
// suffices (what the supervisor's hot path needs). On the host /proc the
// link's directory is opened by the no-crossing rules and the link itself
// checked to be procfs's own (checkProcFdLink) before it is read.
func readProcLink(dir int, name string) (string, error) {
	procfs.mu.Lock()
	private := procfs.ok && procfs.private
	procfs.mu.Unlock()
	if private {
		return readlinkatBuf(dir, name)
	}
	return readProcLinkChecked(dir, name)
}

// readProcLinkChecked is readProcLink where a mount may sit on procfs.
func readProcLinkChecked(dir int, name string) (string, error) {
	parent, base := ".", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		parent, base = name[:i], name[i+1:]
	}
	pdir := dir
	if parent != "." {
		var err error
		if pdir, err = openProcEntry(dir, parent, unix.O_PATH|unix.O_DIRECTORY); err != nil {
			return "", err
		}
		defer unix.Close(pdir)
	}
	if err := checkProcFdLink(pdir, base); err != nil {
		return "", err
	}
	return readlinkatBuf(pdir, base)
}

// procLinkMax bounds a procfs link's text: a name as long as PATH_MAX is
// ENAMETOOLONG, as for every path the kernel would accept back. One stack
// buffer, no allocation but the string.
const procLinkMax = unix.PathMax

// readlinkatBuf is readlinkat into a bounded buffer.
func readlinkatBuf(dir int, name string) (string, error) {
	var buf [procLinkMax]byte
	for {
		n, err := unix.Readlinkat(dir, name, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		if n >= len(buf) {
			return "", unix.ENAMETOOLONG
		}
		return string(buf[:n]), nil
	}
}

// ignoringEINTRFd is ignoringEINTR for calls that return an fd.
func ignoringEINTRFd(fn func() (int, error)) (int, error) {
	for {
		fd, err := fn()
		if err != unix.EINTR {
			return fd, err
		}
	}
}
