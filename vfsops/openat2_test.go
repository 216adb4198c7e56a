package vfsops

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hookOpenat2 replaces the openat2 system call for one test. fail returns
// the error to inject for call number n (from 0), or nil to make the real
// call. It returns a counter of calls.
func hookOpenat2(t *testing.T, fail func(n int) error) *int {
	t.Helper()
	calls := new(int)
	saved := openat2Syscall
	openat2Syscall = func(dirfd int, path string, how *unix.OpenHow) (int, error) {
		n := *calls
		*calls++
		if err := fail(n); err != nil {
			return -1, err
		}
		return saved(dirfd, path, how)
	}
	t.Cleanup(func() { openat2Syscall = saved })
	return calls
}

func TestOpenat2EAGAINRetry(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "x")
	dirfd := openDir(t, dir)
	for _, tc := range []struct {
		eagains   int
		wantCalls int
		wantErr   bool
	}{
		{eagains: 0, wantCalls: 1},
		{eagains: 1, wantCalls: 2},
		{eagains: maxEAGAINRetries - 1, wantCalls: maxEAGAINRetries},
		{eagains: maxEAGAINRetries, wantCalls: maxEAGAINRetries, wantErr: true},
		{eagains: 1 << 30, wantCalls: maxEAGAINRetries, wantErr: true},
	} {
		calls := hookOpenat2(t, func(n int) error {
			if n < tc.eagains {
				return unix.EAGAIN
			}
			return nil
		})
		fd, err := OpenBeneath(dirfd, "f", unix.O_RDONLY, 0, 0)
		if *calls != tc.wantCalls {
			t.Errorf("%d EAGAINs: %d openat2 calls, want %d", tc.eagains, *calls, tc.wantCalls)
		}
		if !tc.wantErr {
			if err != nil {
				t.Errorf("%d EAGAINs: %v", tc.eagains, err)
			} else {
				unix.Close(fd)
			}
			continue
		}
		if err == nil {
			unix.Close(fd)
			t.Fatalf("%d EAGAINs: succeeded, want EAGAIN after %d attempts", tc.eagains, maxEAGAINRetries)
		}
		if !errors.Is(err, unix.EAGAIN) || !strings.Contains(err.Error(), "32 attempts") || !strings.Contains(err.Error(), "open f") {
			t.Errorf("%d EAGAINs: error %q should wrap EAGAIN and name the op, the path and the attempts", tc.eagains, err)
		}
	}
}

// EINTR is not a race and must not use up the EAGAIN budget.
func TestOpenat2EINTRNotCounted(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "x")
	dirfd := openDir(t, dir)
	hookOpenat2(t, func(n int) error {
		if n%2 == 0 && n < 4*maxEAGAINRetries {
			return unix.EINTR
		}
		if n < 4*maxEAGAINRetries {
			return unix.EAGAIN
		}
		return nil
	})
	_, err := OpenBeneath(dirfd, "f", unix.O_RDONLY, 0, 0)
	if !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("got %v, want EAGAIN after %d EAGAINs interleaved with EINTRs", err, maxEAGAINRetries)
	}
}

// resetOpenat2State forgets a recorded refusal, before and after a test.
func resetOpenat2State(t *testing.T) {
	reset := func() {
		openat2State.refused.Store(false)
		openat2State.retryAt.Store(0)
		openat2State.untilProbe.Store(0)
	}
	reset()
	t.Cleanup(reset)
}

func TestOpenat2RefusalPolicy(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "x")
	dirfd := openDir(t, dir)
	open := func() error {
		fd, err := OpenBeneath(dirfd, "f", unix.O_RDONLY, 0, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}

	t.Run("seccomp-refusal-falls-back-and-reprobes", func(t *testing.T) {
		resetOpenat2State(t)
		calls := hookOpenat2(t, func(int) error { return unix.ENOSYS })
		saved := openat2Probe
		openat2Probe = func() error { return unix.ENOSYS }
		t.Cleanup(func() { openat2Probe = saved })

		if err := open(); err != nil {
			t.Fatalf("refused openat2 must fall back to the walker: %v", err)
		}
		if *calls != 1 || !openat2State.refused.Load() {
			t.Fatalf("after a confirmed refusal: %d calls, refused=%v", *calls, openat2State.refused.Load())
		}
		// While refused, openat2 is not tried...
		for i := 0; i < openat2ReprobeEvery-1; i++ {
			if err := open(); err != nil {
				t.Fatal(err)
			}
		}
		if *calls != 1 {
			t.Fatalf("openat2 tried %d times while recorded as refused", *calls)
		}
		// ...but the refusal is not forever: after openat2ReprobeEvery
		// calls it is tried again.
		if err := open(); err != nil {
			t.Fatal(err)
		}
		if *calls != 2 {
			t.Fatalf("openat2 not retried after %d calls (calls=%d)", openat2ReprobeEvery, *calls)
		}
		// And the time bound: an expired retryAt re-enables it at once.
		openat2State.retryAt.Store(1)
		if err := open(); err != nil {
			t.Fatal(err)
		}
		if *calls != 3 {
			t.Fatalf("openat2 not retried after the time bound (calls=%d)", *calls)
		}
	})

	t.Run("ordinary-eperm-is-returned", func(t *testing.T) {
		resetOpenat2State(t)
		hookOpenat2(t, func(int) error { return unix.EPERM })
		// The real probe: openat2 exists here, so EPERM is the file's answer.
		err := open()
		if !errors.Is(err, unix.EPERM) {
			t.Fatalf("got %v, want the EPERM itself", err)
		}
		if openat2State.refused.Load() {
			t.Fatal("an ordinary EPERM was recorded as a refused openat2")
		}
	})

	t.Run("forced-fallback-never-calls-openat2", func(t *testing.T) {
		resetOpenat2State(t)
		calls := hookOpenat2(t, func(int) error { return nil })
		fd, err := OpenBeneath(dirfd, "f", unix.O_RDONLY, 0, forceWalk)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		prev := ForceFallback(true)
		if err := open(); err != nil {
			t.Fatal(err)
		}
		ForceFallback(prev)
		if *calls != 0 {
			t.Fatalf("openat2 called %d times with the fallback forced", *calls)
		}
		if err := open(); err != nil || *calls != 1 {
			t.Fatalf("after ForceFallback(false): err %v, %d calls, want openat2 used", err, *calls)
		}
	})
}

func TestProbeOpenat2(t *testing.T) {
	if err := probeOpenat2(); err != nil {
		t.Fatalf("openat2 works on this kernel (see the escape tests), but the probe says %v", err)
	}
}

func TestProbeOpenat2Exported(t *testing.T) {
	if err := ProbeOpenat2(); err != nil {
		t.Fatalf("ProbeOpenat2 on a kernel with openat2: %v", err)
	}
	saved := openat2Syscall
	openat2Syscall = func(int, string, *unix.OpenHow) (int, error) { return -1, unix.EINVAL }
	defer func() { openat2Syscall = saved }()
	if err := ProbeOpenat2(); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("ProbeOpenat2 with RESOLVE_* rejected: %v, want EINVAL", err)
	}
}
