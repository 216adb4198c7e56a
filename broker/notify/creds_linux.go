package notify

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// Acting as the program (see "Whose credentials" in doc.go).
//
// Every VFS operation the supervisor performs for a notification runs
// inside c.asCaller, on the worker's locked OS thread, with the notifying
// thread's fsuid, fsgid, supplementary groups and effective capabilities
// (those our own permitted set holds), read from /proc/TID/status for that
// notification. Everything else (reading and writing the task's memory,
// pidfd_getfd, the /proc links, the seccomp ioctls) runs with the
// supervisor's own credentials, before and after.
//
// The switch uses per-thread system calls only: setfsuid, setfsgid,
// setgroups and capset issued with RawSyscall on the current thread. (Go's
// syscall.Setgroups and friends change every thread of the process.)

// taskCreds are the credentials of a task, as /proc/TID/status reports
// them in the supervisor's user namespace.
type taskCreds struct {
	ruid, rgid   uint32 // real: access(2) checks with these
	euid, egid   uint32 // effective: what a socket's peer sees (SO_PEERCRED)
	fsuid, fsgid uint32 // every other file access
	groups       []uint32
	eff, prm     uint64 // capability sets
	umask        uint32
}

// threadCreds are what a thread acts with in the VFS.
type threadCreds struct {
	fsuid, fsgid uint32
	groups       []uint32
	eff          uint64
}

// selfCreds are the supervisor thread's own credentials, read once per
// worker before it first acts for a task (they never change: the
// supervisor does not change its credentials except inside asCaller).
type selfCreds struct {
	threadCreds
	prm, inh uint64
	userNS   string // the thread-self/ns/user link (readSelfUserNS)
}

// procEntry is a task's /proc/TID directory and its status file, both
// bound to the task (its struct pid), not to the number: once the task is
// gone they fail with ESRCH and never describe a task that reuses the
// number. Opened and then proven to be the notifying task's (ID_VALID),
// they can be read later without another check (see callerCreds).
type procEntry struct {
	dir    vfsops.ProcPid
	status int
}

// credState is the per-worker state of asCaller, part of call.
type credState struct {
	self   *selfCreds
	procs  map[int]procEntry
	status []byte
	caller taskCreds
	loaded bool // caller holds this notification's credentials
	// nsChecked: sameNS says whether the caller is in our user namespace,
	// for this notification.
	nsChecked, sameNS bool
	realIDs           bool // access(2) without AT_EACCESS: check as the real uid/gid
	// changed records which parts asCaller switched, for the restore.
	changedGroups, changedFsgid, changedFsuid, changedCaps bool
	// tainted: a restore failed, so this thread must never serve again;
	// its goroutine exits without unlocking it, and the runtime ends it.
	tainted bool
}

// asCaller runs op with the notifying thread's credentials. If they cannot
// be taken on (the supervisor lacks CAP_SETUID or CAP_SETGID to become
// them), op is not run and the answer is EACCES: the supervisor refuses
// what it cannot check, it never acts with more than the task has. A task
// that died meanwhile gives errGone.
func (c *call) asCaller(op func() error) error {
	want, errno := c.wantCreds()
	if errno != 0 {
		return errno
	}
	if err := c.become(want); err != nil {
		c.restore()
		c.report(Refusal{Kind: KindRefused, Op: "act", Why: fmt.Sprintf("cannot act with the credentials of pid %d (fsuid %d, fsgid %d): %v", c.pid(), want.fsuid, want.fsgid, err)})
		return unix.EACCES
	}
	err := op()
	c.restore()
	return err
}

// wantCreds is what the thread must act with for this notification.
func (c *call) wantCreds() (threadCreds, unix.Errno) {
	self, errno := c.selfCreds()
	if errno != 0 {
		return threadCreds{}, errno
	}
	cr, errno := c.callerCreds()
	if errno != 0 {
		return threadCreds{}, errno
	}
	t := threadCreds{fsuid: cr.fsuid, fsgid: cr.fsgid, groups: cr.groups, eff: cr.eff & self.prm}
	if c.cred.realIDs {
		// access(2) without AT_EACCESS (do_faccessat): the real ids;
		// no capabilities unless the real uid is root, whose check uses
		// its permitted set. (Under SECBIT_NO_SETUID_FIXUP, which /proc
		// does not show, the kernel keeps the effective set instead:
		// then a non-root answer may be "no" where the kernel says
		// "yes", and a root one "yes" where it says "no". Only the
		// answer: no operation is performed with these credentials.)
		t.fsuid, t.fsgid = cr.ruid, cr.rgid
		t.eff = 0
		if cr.ruid == 0 {
			t.eff = cr.prm & self.prm
		}
	}
	if t.eff != 0 && !c.callerInOurUserNS() {
		// Capabilities held in another user namespace apply there, to
		// files whose owners it maps; the supervisor's apply to all.
		// Without a way to tell which, none are used: narrower, never
		// wider.
		t.eff = 0
	}
	return t, 0
}

// callerCreds reads the notifying thread's credentials from its
// /proc/TID/status, once per notification (the thread is blocked in the
// system call meanwhile, so they cannot change). Never cached across
// notifications: every notification reads the file again, and procfs
// regenerates it on every read from offset 0.
func (c *call) callerCreds() (*taskCreds, unix.Errno) {
	st := &c.cred
	if st.loaded {
		return &st.caller, 0
	}
	tid := c.pid()
	for {
		e, cached, errno := c.procEntry(tid)
		if errno != 0 {
			return nil, errno
		}
		if st.status == nil {
			st.status = make([]byte, 4096)
		}
		n, err := vfsops.Pread(e.status, st.status, 0)
		for err == nil && n == len(st.status) && len(st.status) < 1<<21 {
			// Very many supplementary groups: read it all.
			st.status = make([]byte, 2*len(st.status))
			n, err = vfsops.Pread(e.status, st.status, 0)
		}
		if err == nil && parseStatus(st.status[:n], &st.caller) {
			st.loaded = true
			return &st.caller, 0
		}
		c.dropProc(tid)
		if !cached {
			if !c.valid() {
				return nil, errGone
			}
			return nil, unix.EACCES
		}
	}
}

// procEntry returns the cached /proc/TID entry of tid, or opens one and
// proves it the notifying task's.
//
// A cached entry needs no new ID_VALID check: it was the notifier's when it
// was opened, and if it still reads, that task is still alive. Two live
// tasks never share a number, and the present notifier had this number
// when it notified, so they are the same task.
func (c *call) procEntry(tid int) (procEntry, bool, unix.Errno) {
	if e, ok := c.cred.procs[tid]; ok {
		return e, true, 0
	}
	// Beneath the verified procfs handle, not "/proc/"+tid: a /proc that
	// is not procfs, or has a file mounted over TID/status, would hand us
	// credentials of an attacker's choosing.
	dir, err := vfsops.OpenProcPid(tid)
	if err != nil {
		if !c.valid() {
			return procEntry{}, false, errGone
		}
		return procEntry{}, false, unix.EACCES
	}
	status, err := dir.Open("status", unix.O_RDONLY)
	if err != nil {
		dir.Close()
		if !c.valid() {
			return procEntry{}, false, errGone
		}
		return procEntry{}, false, unix.EACCES
	}
	e := procEntry{dir: dir, status: status}
	if !c.valid() {
		unix.Close(status)
		dir.Close()
		return procEntry{}, false, errGone
	}
	if len(c.cred.procs) >= maxPidfds {
		c.closeProcs()
	}
	if c.cred.procs == nil {
		c.cred.procs = make(map[int]procEntry)
	}
	c.cred.procs[tid] = e
	return e, false, 0
}

func (c *call) dropProc(tid int) {
	if e, ok := c.cred.procs[tid]; ok {
		unix.Close(e.status)
		e.dir.Close()
		delete(c.cred.procs, tid)
	}
}

func (c *call) closeProcs() {
	for tid := range c.cred.procs {
		c.dropProc(tid)
	}
}

// callerInOurUserNS reports whether the notifying thread is in the
// supervisor's user namespace (read per notification: unshare(2) changes
// it). Through the task's own /proc directory, so bound to the task.
func (c *call) callerInOurUserNS() bool {
	st := &c.cred
	if !st.nsChecked {
		st.nsChecked = true
		st.sameNS = false
		if e, ok := st.procs[c.pid()]; ok {
			ns, err := e.dir.Readlink("ns/user")
			st.sameNS = err == nil && ns == st.self.userNS
		}
	}
	return st.sameNS
}

// selfCreds reads this thread's own credentials.
func (c *call) selfCreds() (*selfCreds, unix.Errno) {
	if c.cred.self != nil {
		return c.cred.self, 0
	}
	s := &selfCreds{}
	s.fsuid = getfsuid()
	s.fsgid = getfsgid()
	groups, errno := getgroups()
	if errno != 0 {
		return nil, errno
	}
	s.groups = groups
	eff, prm, inh, errno := capget()
	if errno != 0 {
		return nil, errno
	}
	s.eff, s.prm, s.inh = eff, prm, inh
	ns, err := readSelfUserNS()
	if err != nil {
		return nil, unix.EACCES
	}
	s.userNS = ns
	c.cred.self = s
	return s, 0
}

// readSelfUserNS reads this thread's thread-self/ns/user link (user
// namespaces are per thread), beneath the verified procfs handle.
func readSelfUserNS() (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := vfsops.OpenProcThreadSelf()
	if err != nil {
		return "", err
	}
	defer self.Close()
	return self.Readlink("ns/user")
}

// become switches the thread to t. Groups and ids first, while our own
// CAP_SETGID and CAP_SETUID are effective; the capabilities last, because
// setfsuid itself adjusts the effective set.
func (c *call) become(t threadCreds) error {
	st := &c.cred
	s := st.self
	if !slices.Equal(t.groups, s.groups) {
		st.changedGroups = true
		if errno := setgroups(t.groups); errno != 0 {
			return errno
		}
	}
	if t.fsgid != s.fsgid {
		st.changedFsgid = true
		setfsgid(t.fsgid)
		if getfsgid() != t.fsgid {
			return unix.EPERM
		}
	}
	if t.fsuid != s.fsuid {
		st.changedFsuid = true
		setfsuid(t.fsuid)
		if getfsuid() != t.fsuid {
			return unix.EPERM
		}
	}
	if t.eff != s.eff || st.changedFsuid {
		st.changedCaps = true
		if errno := capset(t.eff, s.prm, s.inh); errno != 0 {
			return errno
		}
	}
	return nil
}

// restore switches the thread back to its own credentials. Should that
// fail (it cannot: each step returns to what the thread had, with its own
// capabilities effective again first), the thread is tainted.
func (c *call) restore() {
	st := &c.cred
	if !st.changedGroups && !st.changedFsgid && !st.changedFsuid && !st.changedCaps {
		return
	}
	s := st.self
	ok := true
	if st.changedCaps {
		// First, so that CAP_SETUID and CAP_SETGID are effective again.
		ok = capset(s.eff, s.prm, s.inh) == 0
	}
	if st.changedFsuid {
		setfsuid(s.fsuid)
		ok = getfsuid() == s.fsuid && ok
	}
	if st.changedFsgid {
		setfsgid(s.fsgid)
		ok = getfsgid() == s.fsgid && ok
	}
	if st.changedGroups {
		ok = setgroups(s.groups) == 0 && ok
	}
	if st.changedFsuid {
		// Returning the fsuid to (or from) 0 adjusted the effective set.
		if eff, _, _, errno := capget(); errno != 0 || eff != s.eff {
			ok = capset(s.eff, s.prm, s.inh) == 0 && ok
		}
	}
	st.changedGroups, st.changedFsgid, st.changedFsuid, st.changedCaps = false, false, false, false
	if !ok {
		st.tainted = true
		c.s.logf("capfd: internal error: a supervisor thread could not restore its credentials; it stops serving")
	}
}

// parseStatus reads the fields of /proc/TID/status that file access
// depends on. It reports false if one is missing or malformed.
func parseStatus(b []byte, cr *taskCreds) bool {
	cr.groups = cr.groups[:0]
	var have int
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		key, val, found := bytes.Cut(line, []byte(":\t"))
		if !found {
			continue
		}
		switch string(key) {
		case "Umask":
			v, ok := parseUint(val, 8)
			if !ok {
				return false
			}
			cr.umask = uint32(v) & 0o777
			have |= 1
		case "Uid", "Gid":
			// real, effective, saved, filesystem
			var ids [4]uint32
			f := val
			for i := range ids {
				var field []byte
				field, f, _ = bytes.Cut(f, []byte("\t"))
				v, ok := parseUint(field, 10)
				if !ok || v > 1<<32-1 {
					return false
				}
				ids[i] = uint32(v)
			}
			if key[0] == 'U' {
				cr.ruid, cr.euid, cr.fsuid = ids[0], ids[1], ids[3]
				have |= 2
			} else {
				cr.rgid, cr.egid, cr.fsgid = ids[0], ids[1], ids[3]
				have |= 4
			}
		case "Groups":
			cr.groups = cr.groups[:0]
			for f := bytes.TrimSpace(val); len(f) > 0; f = bytes.TrimLeft(f, " ") {
				var field []byte
				field, f, _ = bytes.Cut(f, []byte(" "))
				v, ok := parseUint(field, 10)
				if !ok || v > 1<<32-1 {
					return false
				}
				cr.groups = append(cr.groups, uint32(v))
			}
			have |= 8
		case "CapPrm", "CapEff":
			v, ok := parseUint(val, 16)
			if !ok {
				return false
			}
			if key[3] == 'P' {
				cr.prm = v
				have |= 16
			} else {
				cr.eff = v
				have |= 32
			}
		}
	}
	if have != 63 {
		return false
	}
	// The kernel keeps the groups sorted (groups_sort); sort anyway, so
	// that the comparison with our own is by content.
	slices.Sort(cr.groups)
	return true
}

// parseUint parses an unsigned number in base 8, 10 or 16 (no prefix, no
// sign) without allocating.
func parseUint(b []byte, base uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 22 {
		return 0, false
	}
	var v uint64
	for _, ch := range b {
		var d uint64
		switch {
		case '0' <= ch && ch <= '9':
			d = uint64(ch - '0')
		case base == 16 && 'a' <= ch && ch <= 'f':
			d = uint64(ch-'a') + 10
		default:
			return 0, false
		}
		if d >= base || v > (1<<64-1-d)/base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// The per-thread credential system calls. RawSyscall: nothing here blocks,
// and the thread must not be handed to the scheduler between the calls.

// setfsuid and setfsgid return nothing useful: the kernel answers with the
// previous id whether or not it changed it, so callers check with
// getfsuid/getfsgid (setfs[ug]id(-1) changes nothing and returns the
// current id).
func setfsuid(uid uint32) { unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0) }
func setfsgid(gid uint32) { unix.RawSyscall(unix.SYS_SETFSGID, uintptr(gid), 0, 0) }

func getfsuid() uint32 {
	r, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
	return uint32(r)
}

func getfsgid() uint32 {
	r, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0)
	return uint32(r)
}

func setgroups(groups []uint32) unix.Errno {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0)
	return errno
}

func getgroups() ([]uint32, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_GETGROUPS, 0, 0, 0)
	if errno != 0 {
		return nil, errno
	}
	groups := make([]uint32, n)
	if n > 0 {
		m, _, errno := unix.RawSyscall(unix.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&groups[0])), 0)
		if errno != 0 {
			return nil, errno
		}
		groups = groups[:m]
	}
	slices.Sort(groups)
	return groups, 0
}

func capget() (eff, prm, inh uint64, errno unix.Errno) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	_, _, errno = unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return 0, 0, 0, errno
	}
	eff = uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	prm = uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted)
	inh = uint64(data[1].Inheritable)<<32 | uint64(data[0].Inheritable)
	return eff, prm, inh, 0
}

// capset sets the current thread's capability sets (header pid 0: this
// thread only).
func capset(eff, prm, inh uint64) unix.Errno {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(prm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(prm >> 32), Inheritable: uint32(inh >> 32)},
	}
	_, _, errno := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	return errno
}
