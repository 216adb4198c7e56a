package bypass

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Attack is one attempt to do what the grants forbid. Run performs it in
// the current process and returns nil only if the forbidden effect really
// happened (checked, not assumed), or the error that stopped it.
type Attack struct {
	Name string
	// Doc says what the attack does, for the docs table and failures.
	Doc string
	Run func(e *Env) error

	// victim: the child runs from its own copy of the test binary
	// (Env.Victim), because the attack writes to its executable.
	victim bool
	// needs, if set, checks in the parent that the fixture's kernel and
	// filesystem can show the attack at all; a *MissingFeatureError skips
	// the attack naming the feature, any other error fails it.
	needs func(e *Env) error
}

// errNoEffect is returned when the syscalls succeeded yet the forbidden
// effect is absent: the attack failed, but not by being refused.
var errNoEffect = errors.New("syscalls succeeded but the effect is absent")

func procFd(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// overwriteVia opens path with flags, writes a marker at offset 0 and checks,
// through the child's original read-only fd, that the file changed.
func overwriteVia(e *Env, path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte("pwned"), 0); err != nil {
		return err
	}
	return contentStartsWith(e.RO, "pwned")
}

func contentStartsWith(path, prefix string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		// Opening may be refused now; the caller's write succeeded, but
		// the effect cannot be confirmed this way.
		return fmt.Errorf("verify %s: %w", path, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, len(prefix))
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if !bytes.Equal(buf[:n], []byte(prefix)) {
		return fmt.Errorf("%w: %s starts %q", errNoEffect, path, buf[:n])
	}
	return nil
}

// sameInode reports whether a and b name the same object: the proof that
// a bind mount happened.
func sameInode(a, b string) error {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := unix.Stat(b, &sb); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if sa.Dev != sb.Dev || sa.Ino != sb.Ino {
		return fmt.Errorf("%w: %s is not %s", errNoEffect, a, b)
	}
	return nil
}

func exists(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("%w: %s: %v", errNoEffect, path, err)
	}
	return nil
}

func gone(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w: %s still there (%v)", errNoEffect, path, err)
	}
	return nil
}
