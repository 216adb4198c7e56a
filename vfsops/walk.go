package vfsops

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// The fallback resolver, for kernels without openat2 (before 5.6) and for
// sandboxes whose seccomp filter refuses it. It gives the guarantees of
// RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS (and of NoXDev, NoSymlinks, InRoot)
// by doing the kernel's walk itself, one component at a time:
//
//   - Every intermediate component is opened with O_PATH|O_NOFOLLOW (and
//     O_DIRECTORY, which makes a symlink fail with ENOTDIR rather than be
//     opened) from the directory fd reached so far. An fd pins the
//     directory it names, so a rename of any path above it cannot change
//     what the next openat sees; O_NOFOLLOW makes the kernel stop at each
//     symlink instead of following it where we cannot see.
//   - Symlinks are followed by us, from a stack of pending components, with
//     the kernel's limit of 40 (MAXSYMLINKS). Their target is read from the
//     link's own O_PATH fd (readlinkat(fd, "")), so it is the target of the
//     link we examined, not of one swapped in after. Absolute targets are
//     escapes unless InRoot, where they restart at the root.
//   - Any symlink on procfs (fstatfs f_type PROC_SUPER_MAGIC) is refused as
//     a magic link. Magic links live only on procfs (fd/N, root, cwd, exe,
//     ns/*, map_files/*). The kernel knows which procfs links are magic;
//     userspace cannot tell from readlink: "pipe:[123]" or
//     "anon_inode:[eventfd]" do not look like paths, but a magic link to a
//     file reads as an ordinary absolute path ("/etc/passwd", perhaps in
//     another mount namespace). So every procfs symlink is treated as one.
//     This is stricter than openat2, which allows the ordinary /proc/self;
//     TestFallbackRefusesEveryProcfsSymlink pins the difference down.
//   - ".." at the root is an escape (or stays at the root with InRoot).
//     Elsewhere ".." goes to the parent, and then we check that the root is
//     still an ancestor of where we are, by walking up with ".." comparing
//     device and inode numbers: a directory moved out from under us (the
//     rename attack on ".." that makes openat2 return EAGAIN) is caught.
//   - The last component is opened with the caller's flags plus O_NOFOLLOW
//     from its checked parent, so the kernel again resolves one name only;
//     if it is a symlink (ELOOP, ENOTDIR, or an O_PATH fd of a link) and
//     the caller did not ask for O_NOFOLLOW, we follow it ourselves.
//   - Downward steps need no beneath check. The walker only ever holds fds
//     of directories it reached beneath the root, and the kernel's own
//     guarantee for scoped lookups is that the result "was inside the root
//     at some point". If a directory the walk holds is moved out of the
//     root, everything below it was beneath the root a moment ago, and
//     anyone able to put a new entry in it could have put that entry there
//     while it was still inside. Only ".." can climb into what was never
//     beneath the root, which is why every ".." is checked.
//   - Under NoXDev every fd reached, ".." and the result included, must be
//     on the root's mount (statx STATX_MNT_ID).

// maxSymlinks is the kernel's MAXSYMLINKS: links followed in one lookup.
const maxSymlinks = 40

// maxAncestorSteps bounds the ".." steps of a beneath check; a deeper tree
// fails closed.
const maxAncestorSteps = 4096

const pathFlags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC

// fileID identifies a file for the walker: (dev, ino), plus the mount id
// where statx reports one.
type fileID struct {
	dev, ino uint64
	mnt      uint64
	mode     uint32
}

func (a fileID) sameFile(b fileID) bool { return a.dev == b.dev && a.ino == b.ino }

func statID(fd int) (fileID, error) {
	var stx unix.Statx_t
	err := ignoringEINTR(func() error {
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW,
			unix.STATX_TYPE|unix.STATX_INO|unix.STATX_MNT_ID, &stx)
	})
	if err != nil {
		return fileID{}, err
	}
	id := fileID{
		dev:  unix.Mkdev(stx.Dev_major, stx.Dev_minor),
		ino:  stx.Ino,
		mode: uint32(stx.Mode) & unix.S_IFMT,
	}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		id.mnt = stx.Mnt_id
	} else {
		// Without mount ids (before 5.8) the device number is the best
		// mount identity we have: a crossing onto another filesystem is
		// still caught, a bind mount of the same filesystem is not.
		id.mnt = id.dev
	}
	return id, nil
}

// The walker calls statx only when it needs an identity (for "..",
// NoXDev, or to tell a symlink from a directory after a failed open): on
// the common path every component costs one openat and one close.
type walker struct {
	root      int
	rootID    fileID
	rootKnown bool
	how       Resolve

	cur      int // directory reached so far; root, or an fd we own
	curID    fileID
	curKnown bool
	links    int
	pending  []string // components still to resolve, last one first
	attempts int      // restarts of the last component after a race
}

func walkBeneath(dirfd int, path string, flags int, mode uint32, how Resolve) (int, error) {
	if len(path) >= unix.PathMax {
		// The kernel refuses a path name of PATH_MAX bytes or more before
		// walking it; the walker must not accept what openat2 refuses.
		return -1, unix.ENAMETOOLONG
	}
	w := walker{root: dirfd, how: how, cur: dirfd}
	defer w.setCur(dirfd, fileID{}, false) // closes cur if it is ours
	if err := w.push(path, "absolute path"); err != nil {
		return -1, err
	}
	for len(w.pending) > 0 {
		comp := w.pending[len(w.pending)-1]
		w.pending = w.pending[:len(w.pending)-1]
		final := len(w.pending) == 0
		switch {
		case comp == "..":
			if err := w.dotdot(); err != nil {
				return -1, err
			}
			if final {
				return w.openLast(".", flags, mode)
			}
		case comp == ".":
			if final {
				return w.openLast(".", flags, mode)
			}
		case final:
			fd, err := w.openLast(comp, flags, mode)
			if err != errFollow {
				return fd, err
			}
		default:
			if err := w.step(comp); err != nil {
				return -1, err
			}
		}
	}
	// Only reachable if the path had no components at all ("/" and the
	// like are pushed as "."), kept as a safe default.
	return -1, unix.ENOENT
}

// setCur moves the walk to fd, closing the previous directory if owned.
// id is fd's identity if known.
func (w *walker) setCur(fd int, id fileID, known bool) {
	if w.cur != w.root && w.cur != fd {
		unix.Close(w.cur)
	}
	w.cur, w.curID, w.curKnown = fd, id, known
}

// getRootID returns the root's identity, fetched once.
func (w *walker) getRootID() (fileID, error) {
	if !w.rootKnown {
		id, err := statID(w.root)
		if err != nil {
			return fileID{}, err
		}
		w.rootID, w.rootKnown = id, true
	}
	return w.rootID, nil
}

// getCurID returns the current directory's identity, fetched once.
func (w *walker) getCurID() (fileID, error) {
	if !w.curKnown {
		id, err := statID(w.cur)
		if err != nil {
			return fileID{}, err
		}
		w.curID, w.curKnown = id, true
	}
	return w.curID, nil
}

// push queues the components of p (a path, or a symlink target) in front
// of what is pending. An absolute p restarts at the root under InRoot and
// is an escape otherwise. A trailing slash requires a directory, as in the
// kernel, by resolving a final ".".
func (w *walker) push(p, what string) error {
	if strings.HasPrefix(p, "/") {
		if w.how&InRoot == 0 {
			return escape(what, unix.EXDEV)
		}
		w.setCur(w.root, w.rootID, w.rootKnown)
	}
	comps := strings.Split(p, "/")
	if strings.HasSuffix(p, "/") || len(strings.Trim(p, "/")) == 0 {
		comps = append(comps, ".")
	}
	for i := len(comps) - 1; i >= 0; i-- {
		if comps[i] != "" {
			w.pending = append(w.pending, comps[i])
		}
	}
	return nil
}

// step descends into the intermediate component name. It opens name with
// O_PATH|O_NOFOLLOW|O_DIRECTORY, which succeeds only for a real directory
// (a symlink is not followed, so it fails with ENOTDIR); only then does it
// look closer, to follow a symlink or report ENOTDIR.
func (w *walker) step(name string) error {
	fd, err := openatNoEINTR(w.cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.ENOTDIR {
		return w.stepNotDir(name)
	}
	if err != nil {
		return err
	}
	var id fileID
	if w.how&NoXDev != 0 {
		if id, err = statID(fd); err == nil {
			err = w.checkMount(id)
		}
		if err != nil {
			unix.Close(fd)
			return err
		}
	}
	w.setCur(fd, id, w.how&NoXDev != 0)
	return nil
}

// stepNotDir handles an intermediate component that is not a directory:
// a symlink is followed, anything else is ENOTDIR.
func (w *walker) stepNotDir(name string) error {
	fd, err := openatNoEINTR(w.cur, name, pathFlags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	id, err := statID(fd)
	if err != nil {
		return err
	}
	if id.mode != unix.S_IFLNK {
		if id.mode == unix.S_IFDIR {
			// It was a symlink a moment ago and is a directory now: a
			// swap raced us. Go round again, boundedly.
			return w.retryStep(name)
		}
		return unix.ENOTDIR
	}
	return w.follow(fd)
}

// retryStep requeues an intermediate component after losing a race.
func (w *walker) retryStep(name string) error {
	w.attempts++
	if w.attempts >= maxEAGAINRetries {
		return errRacing
	}
	w.pending = append(w.pending, name)
	return nil
}

// follow queues the target of the symlink open on linkfd (O_PATH|O_NOFOLLOW).
func (w *walker) follow(linkfd int) error {
	if w.how&NoSymlinks != 0 {
		return unix.ELOOP
	}
	w.links++
	if w.links > maxSymlinks {
		return unix.ELOOP
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(linkfd, &sfs); err != nil {
		return err
	}
	if sfs.Type == unix.PROC_SUPER_MAGIC {
		return escape("procfs symlink (magic link)", unix.ELOOP)
	}
	target, err := readlinkat(linkfd, "")
	if err != nil {
		return err
	}
	if target == "" {
		return unix.ENOENT
	}
	return w.push(target, "absolute symlink")
}

// dotdot moves to the parent of the current directory, if that stays
// beneath the root.
func (w *walker) dotdot() error {
	atRoot := w.cur == w.root
	if !atRoot {
		rootID, err := w.getRootID()
		if err != nil {
			return err
		}
		curID, err := w.getCurID()
		if err != nil {
			return err
		}
		atRoot = curID.sameFile(rootID)
	}
	if atRoot {
		if w.how&InRoot != 0 {
			return nil // ".." of "/" is "/"
		}
		return escape(`".." at the top`, unix.EXDEV)
	}
	fd, err := openatNoEINTR(w.cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	id, err := statID(fd)
	if err == nil {
		err = w.checkMount(id)
	}
	if err == nil {
		err = w.checkBeneath(fd, id)
	}
	if err != nil {
		unix.Close(fd)
		return err
	}
	w.setCur(fd, id, true)
	return nil
}

// checkMount enforces NoXDev for a file the walk reached.
func (w *walker) checkMount(id fileID) error {
	if w.how&NoXDev == 0 {
		return nil
	}
	rootID, err := w.getRootID()
	if err != nil {
		return err
	}
	if id.mnt != rootID.mnt {
		return escape("mount point crossed", unix.EXDEV)
	}
	return nil
}

// checkBeneath reports an escape unless the root is dirfd or one of its
// ancestors. Walking up with ".." is safe against tampering in the
// direction that matters: every step only ever goes up, so it can end at
// the root only if the root really is above dirfd at the moment of that
// step; an attacker can make it miss the root (a false escape, which fails
// closed) but not find one that is not there.
func (w *walker) checkBeneath(dirfd int, id fileID) error {
	rootID, err := w.getRootID()
	if err != nil {
		return err
	}
	if id.sameFile(rootID) {
		return nil
	}
	cur, curID := dirfd, id
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	for range maxAncestorSteps {
		parent, err := openatNoEINTR(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		pid, err := statID(parent)
		if cur != dirfd {
			unix.Close(cur)
		}
		cur = parent
		if err != nil {
			return err
		}
		if pid.sameFile(rootID) {
			return nil
		}
		if pid.sameFile(curID) {
			// ".." of the top of our filesystem view is itself: we
			// reached "/" without passing the root.
			return escape("directory moved out of the root during resolution", unix.EXDEV)
		}
		curID = pid
	}
	return escape("directory too deep to check it is beneath the root", unix.EXDEV)
}

// errRacing is the walker's counterpart of openat2's repeated EAGAIN: a
// name kept changing between symlink and not-symlink under it.
var errRacing = fmt.Errorf("fallback walker: an entry kept being swapped during resolution after %d attempts: %w", maxEAGAINRetries, unix.EAGAIN)

// errFollow tells walkBeneath that openLast queued a symlink to follow. It
// is an internal signal, never a result: it matches no sentinel and no
// errno (errors.Is with ErrEscape, EAGAIN or anything else is false), and
// printing it panics, so a missed check shows as a crash in tests rather
// than as a plausible error (a symlink step reported as an escape). This
// is os.Root's errSymlink discipline.
var errFollow error = followSignal{}

type followSignal struct{}

func (followSignal) Error() string {
	panic("vfsops: internal follow signal escaped the walker")
}

// openLast opens the final component name of the current directory with
// the caller's flags. O_NOFOLLOW is always added, so the kernel resolves
// exactly this one name; a symlink there is followed by the walker (unless
// the caller's own O_NOFOLLOW says not to) and errFollow is returned.
func (w *walker) openLast(name string, flags int, mode uint32) (int, error) {
	userNoFollow := flags&unix.O_NOFOLLOW != 0
	fd, err := openatNoEINTR(w.cur, name, flags|unix.O_NOFOLLOW, mode)
	if err != nil {
		// Opening a symlink with O_NOFOLLOW fails with ELOOP, or ENOTDIR
		// with O_DIRECTORY: look whether it is one, and follow it.
		if userNoFollow || name == "." || (err != unix.ELOOP && err != unix.ENOTDIR) {
			return -1, err
		}
		linkfd, lerr := openatNoEINTR(w.cur, name, pathFlags, 0)
		if lerr != nil {
			return -1, err
		}
		defer unix.Close(linkfd)
		id, lerr := statID(linkfd)
		if lerr != nil {
			return -1, lerr
		}
		if id.mode != unix.S_IFLNK {
			if err == unix.ENOTDIR {
				return -1, err
			}
			// ELOOP but no longer a symlink: it was swapped meanwhile.
			return -1, w.retryLast(name)
		}
		if err := w.follow(linkfd); err != nil {
			return -1, err
		}
		return -1, errFollow
	}
	// Only an O_PATH open can return a symlink (without O_PATH, O_NOFOLLOW
	// made it ELOOP above), and only NoXDev needs the mount: otherwise the
	// fd is the answer as it stands.
	if flags&unix.O_PATH == 0 && w.how&NoXDev == 0 {
		return fd, nil
	}
	id, err := statID(fd)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	if id.mode == unix.S_IFLNK && !userNoFollow {
		err := w.follow(fd)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		return -1, errFollow
	}
	if err := w.checkMount(id); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// retryLast requeues the final component after losing a race with a swap,
// a bounded number of times.
func (w *walker) retryLast(name string) error {
	w.attempts++
	if w.attempts >= maxEAGAINRetries {
		return errRacing
	}
	w.pending = append(w.pending, name)
	return errFollow
}

func openatNoEINTR(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
