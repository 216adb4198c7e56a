package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/examples/internal/exampletest"
)

// TestCommand runs the extract command itself on the hostile archive and
// checks what a user sees: a line per entry, the summary, the exit status.
func TestCommand(t *testing.T) {
	s := newScene(t)
	s.plant(t)
	archive := filepath.Join(s.base, "archive.tar.gz")
	specs := hostile(s.outside)
	if err := os.WriteFile(archive, gzipped(t, buildTar(t, specs)), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := exampletest.Run(t, "-max-bytes", "1048576", archive, s.dst)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2 (some entries refused); stderr %q", err, stderr)
	}
	wantLines := []string{
		"extracted good.txt",
		"extracted dir/nested.txt",
		`refused "../outside/dotdot": path leaves the destination`,
		`refused "abslink": symlink target leaves the destination`,
		`refused "abslink/pwned": an earlier entry for this path or a parent was refused`,
		`refused "innerlink/through.txt": path goes through a symlink`,
		`refused "hardrel": path leaves the destination`,
		`refused "null": entry type not extracted: character device`,
		`refused "bomb.bin": over the size limit`,
	}
	for _, want := range wantLines {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	var extracted, refused int
	for _, s := range specs {
		if s.want == nil {
			extracted++
		} else {
			refused++
		}
	}
	if want := fmt.Sprintf("%d extracted, %d refused", extracted, refused); !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks the summary %q:\n%s", want, stdout)
	}
	if changes := s.outsideChanges(t); len(changes) > 0 {
		t.Errorf("the command changed the outside: %v", changes)
	}
}

func TestCommandErrors(t *testing.T) {
	s := newScene(t)
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no args", nil, "usage: extract"},
		{"missing archive", []string{filepath.Join(s.base, "nope.tar"), s.dst}, "no such file"},
		{"missing destination", []string{os.Args[0], filepath.Join(s.base, "nope")}, "no such file"},
		{"not an archive", []string{"/proc/self/status", s.dst}, "reading tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := exampletest.Run(t, tc.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("extract %v: %v, stderr %q; want status 1 and %q", tc.args, err, stderr, tc.stderr)
			}
		})
	}
}
