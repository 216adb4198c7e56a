package notify

import (
	"errors"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// call is the notification being answered, with the scratch buffers its
// handler needs. The serving goroutine owns one and reuses it.
type call struct {
	s        *Supervisor
	listener int
	req      notifReq
	path     [pathMax]byte
	path2    [pathMax]byte
	// pidfds caches pidfds by thread id (see taskFd), mems /proc/TID/mem
	// descriptors (see writeMemory).
	pidfds map[int]int
	mems   map[int]int
	// pinnedFds are the parent directories pin opened for the current
	// notification, closed once it is answered.
	pinnedFds []int
	// cred is the state of asCaller (creds_linux.go).
	cred credState
	// deferValid skips locate's ID_VALID check for a request whose only
	// effect is the descriptor it returns (see open): there, ADDFD is the
	// check, atomically with the install.
	deferValid bool
}

// result is a handler's answer. fd >= 0 is installed in the task and
// becomes the syscall's return value; pending means another goroutine
// answers later; gone means the task died and nobody waits.
type result struct {
	val     int64
	errno   unix.Errno
	fd      int
	cloexec bool
	pending bool
	gone    bool
	escaped bool // refused by the resolver: a symlink leads out (not yet logged)
	// resume lets the kernel run the syscall itself: chdir (see sysChdir
	// for why that one may) and connect or bind of a socket that is not a
	// Unix one (sysConnect).
	resume bool
}

func ok(val int64) result          { return result{val: val, fd: -1} }
func fail(errno unix.Errno) result { return result{errno: errno, fd: -1} }
func installFd(fd int, cloexec bool) result {
	return result{fd: fd, cloexec: cloexec}
}

var (
	gone    = result{gone: true, fd: -1}
	pending = result{pending: true, fd: -1}
)

func (c *call) pid() int         { return int(c.req.Pid) }
func (c *call) arg(i int) uint64 { return c.req.Data.Args[i] }

// argFd reads a syscall argument declared as int (a dirfd): the kernel
// uses its low 32 bits, sign-extended.
func (c *call) argFd(i int) int32 { return int32(uint32(c.req.Data.Args[i])) }

func (c *call) handle() {
	c.s.handled.Add(1)
	nr := c.req.Data.Nr
	var h handler
	if nr >= 0 && int(nr) < len(handlerByNr) {
		h = handlerByNr[nr]
	}
	r := fail(unix.ENOSYS)
	c.deferValid = false
	// The task's credentials are read afresh for every notification.
	c.cred.loaded, c.cred.nsChecked, c.cred.realIDs = false, false, false
	if h != nil {
		r = h(c)
	}
	finish(c.listener, c.req.ID, r)
	c.closePinned()
}

// finish sends r for notification id.
func finish(listener int, id uint64, r result) {
	switch {
	case r.pending || r.gone || r.errno == errGone:
		return
	case r.resume:
		_ = respondContinue(listener, id)
	case r.fd >= 0:
		err := installAndRespond(listener, id, r.fd, r.cloexec)
		unix.Close(r.fd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			// The task's fd table is full (EMFILE) or similar: the
			// syscall fails with that error, as it would have natively.
			errno, _ := err.(unix.Errno)
			if errno == 0 {
				errno = unix.EIO
			}
			_ = respond(listener, id, 0, errno)
		}
	default:
		// ENOENT here means the task died meanwhile: nothing to do.
		_ = respond(listener, id, r.val, r.errno)
	}
}

// valid reports whether the notification is still pending. Every handler
// calls it (through locate or taskFd) after it has read the task's memory
// and /proc entries and before it acts: if the task died, its pid may
// already name another process, and what was read must be thrown away.
func (c *call) valid() bool { return idValid(c.listener, c.req.ID) }

// readPath copies the path argument at addr into buf.
func (c *call) readPath(addr uint64, buf *[pathMax]byte) (string, unix.Errno) {
	return readString(c.pid(), addr, buf)
}

// location is a request path matched against the grants.
type location struct {
	abs  string // clean absolute path, for messages and matching
	g    *grant // nil: outside every grant
	rest string // path beneath g, "." for g itself; trailing "/" kept
	// pinned: g.fd is the real parent directory, rest its final name, and
	// g's rights those of its real place (place_linux.go).
	pinned bool
	// entry: the operation acts on the final entry itself (mkdir, unlink,
	// rmdir, rename, symlink, link's new name), so pinning never follows
	// a final symlink, not even for "name/": the kernel gives the slash
	// its meaning on the entry ("link/" is ENOTDIR for rmdir).
	entry bool
	// object is the grant whose root the final name is, if any (pinned
	// locations only): its base rights are the object's.
	object *grant
}

// locate turns the task's (dirfd, path) into a location.
//
// A relative path is anchored at the directory the task's dirfd (or cwd)
// names, as reported by /proc/PID/fd/N (or /proc/PID/cwd). The descriptor
// is used as a name only, never as authority: the joined absolute path is
// matched against the grants exactly like an absolute path, and resolved
// beneath the grant's own descriptor. So a directory fd obtained any other
// way, or a cwd outside every grant, confers nothing; see doc.go.
//
// A ".." is resolved as the kernel resolves it, never lexically
// (resolveDotDot): "a/../b" with a -> x/y is x/b. Whatever the string
// says, the object is then reached by RESOLVE_BENEATH resolution from the
// matched grant, with that grant's rights.
func (c *call) locate(dirfd int32, p string) (location, unix.Errno) {
	if p == "" {
		return location{}, unix.ENOENT
	}
	abs := p
	if !strings.HasPrefix(p, "/") {
		base, errno := c.dirPath(dirfd)
		if errno != 0 {
			return location{}, errno
		}
		abs = base + "/" + p
	}
	abs, errno := c.resolveDotDot(abs)
	if errno != 0 {
		return location{}, errno
	}
	if !c.deferValid && !c.valid() {
		return location{}, errGone
	}
	g, rest := c.s.grants.match(abs)
	if g != nil && rest != "." && strings.HasSuffix(p, "/") {
		// "file/" must fail with ENOTDIR as it does natively.
		rest += "/"
	}
	return location{abs: abs, g: g, rest: rest}, 0
}

// resolveDotDot returns abs with "." and empty components dropped and
// each ".." taken from the directory the kernel would be in: the parent of
// the real path of everything before it, which differs from the lexical
// one when a symlink leads there ("a/../b" with a -> x/y is x/b). The
// directory before a ".." is opened (O_PATH) to learn its real path, as
// the caller, only when it lies in or above a grant, whose names the
// program may look up anyway; a ".." after a directory outside every
// grant is absent (ENOENT), since the lookup through it is not granted. A final
// "." or ".." is kept (after the real path of what precedes it): entry
// operations on it fail in the kernel with its own errno (EBUSY,
// ENOTEMPTY, EINVAL), which lexical cleaning would turn into an operation
// on the directory above.
func (c *call) resolveDotDot(abs string) (string, unix.Errno) {
	if !strings.Contains(abs, "/.") {
		return path.Clean(abs), 0 // no "." or "..": cleaning drops only "//"
	}
	parts := strings.Split(strings.TrimRight(abs, "/"), "/")
	cur := "/"
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case part == "" || part == "." && !last:
			continue
		case part == "." || part == ".." && last:
			real, errno := c.realDir(cur)
			if errno != 0 {
				return "", errno
			}
			return strings.TrimSuffix(real, "/") + "/" + part, 0 // not Join: that would clean it away
		case part == "..":
			real, errno := c.realDir(cur)
			if errno != 0 {
				return "", errno
			}
			cur = path.Dir(real)
		default:
			cur = path.Join(cur, part)
		}
	}
	return cur, 0
}

// realDir is the real path of the directory at the clean absolute path p.
func (c *call) realDir(p string) (string, unix.Errno) {
	if p == "/" {
		return p, 0
	}
	if g, _ := c.s.grants.match(p); g == nil && !c.s.grants.above(p) {
		// Not in the view (skeleton_linux.go): absent, whether or not
		// it exists.
		c.report(Refusal{Op: "lookup", Path: p, Missing: rights.Lookup, Why: "outside every grant (its \"..\")", Outside: true, Probe: true})
		return "", unix.ENOENT
	}
	var real string
	err := c.asCaller(func() error {
		fd, err := vfsops.OpenDirAmbient(p)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		real, err = fdPath(fd)
		return err
	})
	var errno unix.Errno
	switch {
	case err == nil:
		return real, 0
	case errors.As(err, &errno):
		return "", errno
	}
	return "", unix.ENOENT
}

// errGone is returned by locate and taskFd when the task died: a sentinel
// no syscall returns, mapped to the gone result by handlers.
const errGone = unix.Errno(1 << 30)

// resultFor maps an errno from locate or taskFd to a result.
func resultFor(errno unix.Errno) result {
	if errno == errGone {
		return gone
	}
	return fail(errno)
}

// dirPath is the absolute path of the task's directory fd, or of its cwd
// for AT_FDCWD.
func (c *call) dirPath(dirfd int32) (string, unix.Errno) {
	var link string
	unreadable := unix.EBADF
	switch {
	case dirfd == unix.AT_FDCWD:
		link, unreadable = "cwd", unix.ENOENT
	case dirfd < 0:
		return "", unix.EBADF
	default:
		link = "fd/" + strconv.Itoa(int(dirfd))
	}
	// The link is read in the task's procfs directory that callerCreds
	// caches (opened beneath the verified procfs handle and proven the
	// notifier's), not by a "/proc/"+pid string: one readlinkat either
	// way, and the name cannot come from another task or a fake /proc.
	e, _, errno := c.procEntry(c.pid())
	if errno == errGone {
		return "", errGone
	}
	if errno != 0 {
		return "", unreadable
	}
	p, err := e.dir.Readlink(link)
	if err != nil {
		return "", unreadable
	}
	if abs, ok := c.s.standins.realName(p); ok {
		// An O_PATH stand-in: the name of what it stands for.
		return abs, 0
	}
	switch {
	case strings.HasSuffix(p, " (deleted)"):
		return "", unix.ENOENT
	case !strings.HasPrefix(p, "/"):
		// pipe:[123], socket:[456], anon_inode:...: not a directory.
		return "", unix.ENOTDIR
	}
	return p, 0
}

// taskFd duplicates the task's descriptor fd into the supervisor (for the
// fd-only forms: fstatat(fd, "", AT_EMPTY_PATH) and friends). The task
// already holds the fd, so nothing is resolved and nothing is granted.
//
// The pidfd naming the task is cached per thread id. A cached pidfd was
// proven to be the notifying task when it was opened (ID_VALID after
// pidfd_open); while that task lives its tid cannot name another, and once
// it is gone pidfd_getfd fails with ESRCH and the entry is replaced.
func (c *call) taskFd(fd int32) (int, unix.Errno) {
	if fd < 0 {
		return -1, unix.EBADF
	}
	tid := c.pid()
	pidfd, cached := c.pidfds[tid]
	if !cached {
		var errno unix.Errno
		if pidfd, errno = c.openPidfd(tid); errno != 0 {
			return -1, errno
		}
	}
	dup, err := unix.PidfdGetfd(pidfd, int(fd), 0)
	if errors.Is(err, unix.ESRCH) && cached {
		c.dropPidfd(tid)
		return c.taskFd(fd)
	}
	if err != nil {
		return -1, unix.EBADF
	}
	return dup, 0
}

// maxPidfds bounds the per-worker pidfd cache.
const maxPidfds = 64

func (c *call) openPidfd(tid int) (int, unix.Errno) {
	pidfd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if err != nil {
		return -1, unix.ESRCH
	}
	// After this check the pidfd is known to be the notifying task, so
	// pidfd_getfd cannot take a descriptor from a recycled pid.
	if !c.valid() {
		unix.Close(pidfd)
		return -1, errGone
	}
	if len(c.pidfds) >= maxPidfds {
		c.closePidfds()
	}
	if c.pidfds == nil {
		c.pidfds = make(map[int]int)
	}
	c.pidfds[tid] = pidfd
	return pidfd, 0
}

func (c *call) dropPidfd(tid int) {
	if fd, ok := c.pidfds[tid]; ok {
		unix.Close(fd)
		delete(c.pidfds, tid)
	}
}

// closeCaches closes the cached descriptors; workers call it when they
// stop.
func (c *call) closeCaches() {
	c.closePidfds()
	c.closeMems()
	c.closeProcs()
}

func (c *call) closePidfds() {
	for tid := range c.pidfds {
		c.dropPidfd(tid)
	}
}

// rightsAt returns the rights of the object a location names and of the
// directory it is an entry of. The grant's base rights cover the granted
// object itself and the entries of a granted directory; its inherit rights
// cover everything deeper, and a directory deeper holds them less lookup
// unless the base rights have it (rights.Pair.Dir). A granted object's own
// directory lies outside the grant: no entry rights there.
func (l location) rightsAt() (object, parent rights.Rights) {
	g := l.g
	if l.object != nil {
		_, parent = location{g: g, rest: l.rest}.rightsAt()
		return l.object.Rights.Base, parent
	}
	rest := strings.TrimSuffix(l.rest, "/")
	switch {
	case rest == ".":
		return g.Rights.Base, rights.None
	case !strings.Contains(rest, "/"):
		return g.Rights.Inherit, g.Rights.Base
	default:
		return g.Rights.Inherit, g.Rights.Dir(false)
	}
}

// needFor is what req needs of a path's object and of the directory its
// entry is in (operand: OnDir, or the source or target directory of a
// rename or link), from the vfsops table: one rule for the supervisor and
// every other layer.
func needFor(op string, req vfsops.Request, operand vfsops.Operand) need {
	n := need{op: op, parent: req.On(operand)}
	if operand == vfsops.OnDir || operand == vfsops.OnSourceDir {
		n.object = req.On(vfsops.OnObject)
	}
	return n
}

// need is what an operation requires of the object and of its directory.
type need struct {
	op     string
	object rights.Rights
	parent rights.Rights
	probe  bool // stat-like: refusals outside every grant are logged only when verbose
	// follow: the operation follows a symlink in the final name, so
	// pinning follows it too (place_linux.go).
	follow bool
	// entry: the operation acts on the final entry itself; see
	// location.entry, which locateChecked sets from it.
	entry bool
	// objectAlt, when set, is what the object needs instead of object
	// if it turns out to be a directory (a read-mode open: readdir, not
	// read); the open is then checked again by its type (openTyped).
	objectAlt rights.Rights
	// anchored: openat2 RESOLVE_BENEATH/IN_ROOT, resolved from the task's
	// dirfd rather than the grant; not pinned (see openAnchored).
	anchored bool
}

// withFollow marks n as following a final symlink; asProbe as stat-like.
func withFollow(n need) need { n.follow = true; return n }
func asProbe(n need) need    { n.probe = true; return n }

// asEntry marks n as acting on the final entry itself (mkdir, unlink,
// symlink): pinning never follows a final symlink for it.
func asEntry(n need) need { n.entry = true; return n }

// check refuses l unless it lies in a grant with the rights n needs, and
// logs the refusal. It returns 0 or EACCES, the errno Landlock and DAC give
// for a path one may not use; outside every grant, the answer of the view
// of the grants (outsideErrno: ENOENT, or EACCES for the skeleton).
//
// Where names can mislead (nested grants, base rights narrower than
// inherit), l is first pinned to the object it reaches (pin), and the
// caller then acts on the pinned location.
func (c *call) check(lp *location, n need) unix.Errno {
	if named := lp.abs; c.s.learner != nil && lp.g != nil && lp.g.Learn {
		// Learning: a symlink followed on the way is needed by its own
		// name too (a grant of the name is what a rerun matches).
		defer func() {
			if lp.abs != named {
				c.s.learn(Need{Path: named, Object: n.object, Parent: n.parent})
			}
		}()
	}
	if lp.g != nil && !n.anchored {
		pinned, errno := c.pin(*lp, n.follow)
		if errno != 0 {
			return errno
		}
		*lp = pinned
	}
	l := *lp
	if l.g == nil {
		why, grant := "outside every grant", grantSpec(l.abs, n)
		if grant == "" {
			why += "; procfs cannot be granted"
		}
		c.s.learn(Need{Path: l.abs, Object: n.object, Parent: n.parent, Refused: true})
		c.report(Refusal{Op: n.op, Path: l.abs, Missing: headline(n.object | n.parent | rights.Lookup),
			Why: why, Grant: grant, Outside: true, Probe: n.probe || runtimePlumbing(l.abs, n), creates: n.parent&CreatingRights != 0})
		return c.outsideErrno(l, n)
	}
	object, parent := l.rightsAt()
	// Looking up the last component needs lookup on its directory; the
	// granted object itself is reached without a lookup in a grant.
	parentNeed := n.parent
	if l.rest != "." {
		parentNeed |= rights.Lookup
	} else {
		// The granted object exists and is reached without a lookup in
		// any grant, so lookup and create (O_CREAT of what exists) need
		// nothing; changing the entry itself would need rights on a
		// directory outside the grant.
		if entry := n.parent.Without(rights.Lookup | rights.Create); entry != 0 {
			c.refuse(n.op, l.abs, entry, "the granted object's own entry is outside the grant")
			return unix.EACCES
		}
		parentNeed = 0
	}
	objectMissing := object.Missing(n.object)
	if objectMissing != 0 && n.objectAlt != 0 && object.Has(n.objectAlt) {
		objectMissing = 0 // the alternative holds; openTyped decides once open
	}
	missing := objectMissing | parent.Missing(parentNeed)
	if missing != 0 {
		c.s.learn(Need{Path: l.abs, Object: n.object, Parent: n.parent, Refused: true})
		c.refuse(n.op, l.abs, missing, l.g.describe())
		return unix.EACCES
	}
	if l.g.Learn {
		c.s.learn(Need{Path: l.abs, Object: n.object, Parent: n.parent})
	}
	return 0
}

// grantSpec says which grant would allow a refusal outside every grant:
// the object (its directory for a new entry) with the smallest named group
// of rights that holds what the operation needs, e.g. "/etc/alternatives=ro".
// procfs cannot be granted: "".
func grantSpec(abs string, n need) string {
	if abs == "/proc" || strings.HasPrefix(abs, "/proc/") {
		return ""
	}
	target := strings.TrimSuffix(abs, "/")
	if n.parent&CreatingRights != 0 {
		target = path.Dir(target)
	}
	need := n.object | n.parent | rights.Lookup
	spec := need.String()
	for _, g := range []struct {
		name string
		r    rights.Rights
	}{{"ro", rights.ReadOnly}, {"rx", rights.ReadExec}, {"rw", rights.ReadWrite}} {
		if g.r.Has(need) {
			spec = g.name
			break
		}
	}
	return target + "=" + spec
}

// runtimePlumbing reports whether a refusal outside every grant is a
// runtime's reading of /proc or /sys (the Go runtime reads
// /sys/kernel/mm/transparent_hugepage and /proc/self/mountinfo as it
// starts, to size its heap pages and find its cgroup limit): a probe of
// optional system information, logged only with -v like stat probes, so
// that every Go program does not start with two lines of noise.
func runtimePlumbing(abs string, n need) bool {
	readOnly := n.parent&CreatingRights == 0 && n.object.Without(rights.Lookup|rights.Read|rights.Readdir|rights.Stat) == 0
	if !readOnly {
		return false
	}
	if strings.HasPrefix(abs, "/sys/") {
		return true
	}
	// Of /proc only the mount table, which the view leaves out on
	// purpose; anything else there (/proc/self/root/..., another
	// process) is worth a line.
	base := path.Base(abs)
	return strings.HasPrefix(abs, "/proc/") && (base == "mountinfo" || base == "mounts")
}

// headline drops lookup from a list of needed rights when others are
// there: every path operation needs it, so it says nothing.
func headline(r rights.Rights) rights.Rights {
	if r.Without(rights.Lookup) != 0 {
		return r.Without(rights.Lookup)
	}
	return r
}

// refuse reports a request refused for want of rights.
func (c *call) refuse(op, abs string, missing rights.Rights, why string) {
	c.report(Refusal{Op: op, Path: abs, Missing: missing, Why: why})
}

// escaped reports a refusal by the resolver: a symlink (or mount
// crossing) beneath the grant leads outside it.
func (c *call) escaped(op string, l location) {
	c.report(Refusal{Op: op, Path: l.abs, Why: "a symlink or mount leads outside grant " + l.g.Path})
}

// report completes r (pid, time, kind) and hands it to the supervisor. A
// deferred validity check is made first, so text read from a recycled pid
// never reaches the log.
func (c *call) report(r Refusal) {
	if c.deferValid && !c.valid() {
		return
	}
	r.Pid, r.Time = c.pid(), time.Now()
	if r.Kind == "" {
		r.Kind = KindNotCapable
	}
	c.s.report(r)
}

// errnoOf maps an error from vfsops to the errno the task sees. An escape
// is a refusal (EACCES); anything else keeps its kernel errno.
func (c *call) errnoOf(op string, l location, err error) unix.Errno {
	if errors.Is(err, vfsops.ErrEscape) {
		c.escaped(op, l)
		return unix.EACCES
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}

// resolveHow is the vfsops resolution every lookup uses.
const resolveHow vfsops.Resolve = 0
