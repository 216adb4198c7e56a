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

func TestReadlinkat(t *testing.T) {
	ref, _ := Roots(t)
	fd, err := unix.Open(ref, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, c := range []struct {
		name, want string
		errno      unix.Errno
	}{
		{"link", "dir", 0},
		{"a", "b/c", 0},
		{"dangling", "missing", 0},
		{"file", "", unix.EINVAL},
		{"missing", "", unix.ENOENT},
	} {
		if got, err := Readlinkat(fd, c.name); got != c.want || Errno(err) != c.errno {
			t.Errorf("Readlinkat(%q) = %q, %v; want %q, %v", c.name, got, err, c.want, c.errno)
		}
	}
}
