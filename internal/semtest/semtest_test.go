package semtest

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want unix.Errno
	}{
		{nil, 0},
		{unix.ENOTDIR, unix.ENOTDIR},
		{&os.PathError{Op: "rename", Path: "x", Err: unix.EBUSY}, unix.EBUSY},
		{fmt.Errorf("wrapped: %w", unix.EEXIST), unix.EEXIST},
		{errors.New("no errno"), 0xffff},
	} {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRoots(t *testing.T) {
	ref, ours := Roots(t)
	if ref == ours {
		t.Fatalf("Roots gave one tree twice: %s", ref)
	}
	want := `. d---------
a L--------- -> b/c
b d---------
b/c d---------
b/sub d---------
b/sub/x ---------- b/sub/x
b/target ---------- b/target
dangling L--------- -> missing
dir d---------
file ---------- file
flink L--------- -> file
full d---------
full/x ---------- x
link L--------- -> dir
target ---------- target`
	for _, root := range []string{ref, ours} {
		if got := Names(t, root); got != want {
			t.Errorf("tree under %s:\n%s\nwant:\n%s", root, got, want)
		}
	}
}
