package vfsops

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxEAGAINRetries bounds the retries when openat2 reports EAGAIN. The
// kernel returns EAGAIN when a rename or mount anywhere in the system raced
// a ".." step of a scoped lookup (it cannot then prove the ".." stayed
// beneath), so a retry normally succeeds; a caller that keeps losing is
// being raced on purpose, and gets a clear error instead of a livelock.
const maxEAGAINRetries = 32

// openat2Syscall is unix.Openat2 and openat2Probe is probeOpenat2; tests
// replace them to inject errors.
var (
	openat2Syscall = unix.Openat2
	openat2Probe   = probeOpenat2
)

// The openat2 availability policy.
//
// openat2 can be missing (ENOSYS before Linux 5.6) or refused by a seccomp
// filter (ENOSYS or EPERM, as container runtimes did before they learnt the
// syscall). EPERM is also an ordinary answer of openat2 (an immutable file
// opened for writing, O_NOATIME on another user's file), so a failure is
// only believed after a probe that cannot fail for permission reasons: an
// openat2 call with a too-small open_how, which a real kernel rejects with
// EINVAL before looking at any path.
//
// A confirmed refusal is never cached forever. A seccomp filter installed
// without SECCOMP_FILTER_FLAG_TSYNC binds only the thread that installed it
// (and threads it later creates), and Go moves goroutines between threads,
// so a refusal seen on one thread proves nothing about the next call's
// thread; a checkpointed process may be restored onto another kernel. So
// the walker is used for openat2ReprobeAfter or openat2ReprobeEvery calls,
// whichever comes first, and then openat2 is tried again. Success is never
// cached at all: every call tries openat2 while it is not known refused, so
// a filter installed later (filters only ever tighten) is noticed at once,
// the mistake filepath-securejoin fixed in 0.6.1.
const (
	openat2ReprobeAfter = 10 * time.Second
	openat2ReprobeEvery = 1024
)

var openat2State struct {
	refused    atomic.Bool
	retryAt    atomic.Int64 // unix nanoseconds
	untilProbe atomic.Int64 // calls left before the next probe
}

// openat2Usable reports whether to try openat2 for this call.
func openat2Usable() bool {
	if !openat2State.refused.Load() {
		return true
	}
	if openat2State.untilProbe.Add(-1) <= 0 || time.Now().UnixNano() >= openat2State.retryAt.Load() {
		openat2State.refused.Store(false)
		return true
	}
	return false
}

// openat2Refused reports whether err means openat2 itself is unavailable,
// probing to tell a refused system call from an ordinary EPERM, and records
// the answer for openat2Usable.
func openat2Refused(err error) bool {
	if err != unix.ENOSYS && err != unix.EPERM {
		return false
	}
	if openat2Probe() == nil {
		return false
	}
	openat2State.retryAt.Store(time.Now().Add(openat2ReprobeAfter).UnixNano())
	openat2State.untilProbe.Store(openat2ReprobeEvery)
	openat2State.refused.Store(true)
	return true
}

// probeOpenat2 returns nil if openat2 reaches the kernel's argument checks,
// else the error that stopped it (ENOSYS, or a seccomp filter's errno).
func probeOpenat2() error {
	var how unix.OpenHow
	// size 0 is below OPEN_HOW_SIZE_VER0: the kernel answers EINVAL without
	// resolving anything, so this probe has no side effect.
	p, err := unix.BytePtrFromString(".")
	if err != nil {
		return err
	}
	cwd := unix.AT_FDCWD
	_, _, errno := unix.Syscall6(unix.SYS_OPENAT2, uintptr(cwd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&how)), 0, 0, 0)
	if errno == unix.EINVAL || errno == unix.E2BIG {
		return nil
	}
	if errno == 0 {
		return fmt.Errorf("openat2 probe unexpectedly succeeded")
	}
	return errno
}

// openat2Beneath is one resolution with openat2, retried on EAGAIN, with the
// kernel's errors mapped to ours. Errors are bare (unwrapped) errnos except
// for ErrEscape and the EAGAIN give-up, so openat2Refused can see ENOSYS.
func openat2Beneath(dirfd int, path string, flags int, mode uint32, how Resolve) (int, error) {
	oh := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: how.resolveFlags()}
	for attempt := 0; ; attempt++ {
		fd, err := openat2Syscall(dirfd, path, &oh)
		switch err {
		case nil:
			return fd, nil
		case unix.EINTR:
			attempt-- // a signal is not a race; EINTR never counts
			continue
		case unix.EAGAIN:
			if attempt+1 < maxEAGAINRetries {
				continue
			}
			return -1, fmt.Errorf("openat2 kept reporting a racing rename or mount after %d attempts: %w", maxEAGAINRetries, unix.EAGAIN)
		case unix.EXDEV:
			return -1, escape("refused by openat2 (\"..\", absolute path or symlink, or mount crossing)", unix.EXDEV)
		case unix.ELOOP:
			if magicLinkCausedELOOP(dirfd, path, &oh) {
				return -1, escape("magic link", unix.ELOOP)
			}
			return -1, unix.ELOOP
		default:
			return -1, err
		}
	}
}

// magicLinkCausedELOOP tells the ELOOP of RESOLVE_NO_MAGICLINKS apart from
// the other ELOOPs (too many symlinks, O_NOFOLLOW on a symlink,
// RESOLVE_NO_SYMLINKS). It repeats the lookup as O_PATH without
// RESOLVE_NO_MAGICLINKS: a scoped lookup (BENEATH or IN_ROOT) still refuses
// to jump through a magic link, but says so with EXDEV instead. Nothing is
// followed that the first lookup would not have followed, and the fd of an
// unexpected success is closed at once; a race can only change which error
// the caller sees, never what it can open.
func magicLinkCausedELOOP(dirfd int, path string, orig *unix.OpenHow) bool {
	diag := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | (orig.Flags & unix.O_NOFOLLOW),
		Resolve: orig.Resolve &^ unix.RESOLVE_NO_MAGICLINKS,
	}
	for attempt := 0; attempt < maxEAGAINRetries; attempt++ {
		fd, err := openat2Syscall(dirfd, path, &diag)
		switch err {
		case nil:
			unix.Close(fd)
			return false
		case unix.EAGAIN, unix.EINTR:
			continue
		default:
			return err == unix.EXDEV
		}
	}
	return false
}
