package vfsops

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Every error names the operation and the path, and keeps the errno and the
// ErrEscape/ErrBadName classification reachable with errors.Is/As.
func TestErrorsCarryContext(t *testing.T) {
	f := newEntryFixture(t)
	ts := unix.Timespec{}
	for _, tc := range []struct {
		op     string
		call   func() error
		prefix string
		is     []error
	}{
		{"open", func() error { _, err := OpenBeneath(f.rootfd, "../x", unix.O_RDONLY, 0, 0); return err }, "open ../x: ", []error{ErrEscape, unix.EXDEV}},
		{"open", func() error { _, err := OpenBeneath(f.rootfd, "nope", unix.O_RDONLY, 0, 0); return err }, "open nope: ", []error{fs.ErrNotExist}},
		{"open", func() error { _, err := OpenBeneath(f.rootfd, "", unix.O_RDONLY, 0, 0); return err }, "open : ", []error{ErrBadName, fs.ErrNotExist}},
		{"mkdir", func() error { return Mkdir(f.rootfd, "updir/x", 0o755, 0) }, "mkdir updir/x: ", []error{ErrEscape}},
		{"mkdir", func() error { return Mkdir(f.rootfd, "a", 0o755, 0) }, "mkdir a: ", []error{fs.ErrExist}},
		{"unlink", func() error { return Unlink(f.rootfd, "nope", 0) }, "unlink nope: ", []error{fs.ErrNotExist}},
		{"rmdir", func() error { return Rmdir(f.rootfd, "..", 0) }, "rmdir ..: ", []error{unix.ENOTEMPTY}}, // rmdir(2)'s answer
		{"rename", func() error { return Rename(f.rootfd, "file", f.rootfd, "../x", 0) }, "rename file ../x: ", []error{ErrEscape}},
		{"link", func() error { return Link(f.rootfd, "nope", f.rootfd, "x", 0) }, "link nope x: ", []error{fs.ErrNotExist}},
		{"symlink", func() error { return Symlink("", f.rootfd, "x", 0) }, "symlink x: ", []error{ErrBadName}},
		{"readlink", func() error { _, err := Readlink(f.rootfd, "file", 0); return err }, "readlink file: ", []error{unix.EINVAL}},
		{"stat", func() error { _, err := Stat(f.rootfd, "abs", 0, true); return err }, "stat abs: ", []error{ErrEscape}},
		{"chmod", func() error { return Chmod(f.rootfd, "up", 0o600, 0) }, "chmod up: ", []error{ErrEscape}},
		{"chown", func() error { return Chown(f.rootfd, "up", 1, 1, 0, true) }, "chown up: ", []error{ErrEscape}},
		{"chtimes", func() error { return Chtimes(f.rootfd, "up", ts, ts, 0, true) }, "chtimes up: ", []error{ErrEscape}},
		{"openparent", func() error { _, _, err := OpenParent(f.rootfd, "a/..", 0); return err }, "openparent a/..: ", []error{ErrBadName}},
		{"reopen", func() error { _, err := Reopen(1<<20, unix.O_RDONLY); return err }, "reopen fd:1048576: ", []error{unix.EBADF}},
	} {
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.prefix)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.prefix) {
			t.Errorf("error %q does not start with %q", err, tc.prefix)
		}
		for _, target := range tc.is {
			if !errors.Is(err, target) {
				t.Errorf("%q: not errors.Is %v", err, target)
			}
		}
		var pe *fs.PathError
		var le *os.LinkError
		if !errors.As(err, &pe) && !errors.As(err, &le) {
			t.Errorf("%q is neither a *fs.PathError nor an *os.LinkError", err)
		}
		// An escape is never a permission error, and vice versa.
		if errors.Is(err, ErrEscape) && errors.Is(err, fs.ErrPermission) {
			t.Errorf("%q is both an escape and a permission error", err)
		}
	}
}

// The walker's internal follow signal cannot be mistaken for a result: it
// matches no sentinel or errno, and printing it panics.
func TestFollowSignalIsNoError(t *testing.T) {
	for _, target := range []error{ErrEscape, ErrBadName, unix.EAGAIN, unix.ELOOP, unix.EXDEV} {
		if errors.Is(errFollow, target) {
			t.Errorf("errFollow matches %v", target)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("printing errFollow did not panic")
		}
	}()
	_ = errFollow.Error()
}
