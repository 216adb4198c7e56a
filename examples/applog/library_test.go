package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

const history = "history 1\nhistory 2\n"

// writeHistory makes dir/app.log with two lines of history, written the
// way the logger writes.
func writeHistory(t *testing.T, dir string) {
	t.Helper()
	lg, err := OpenLogger(dir, "app.log")
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	for _, line := range []string{"history 1", "history 2"} {
		if err := lg.Append(line); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
}

func readLog(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "app.log"))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

func TestAppends(t *testing.T) {
	dir := t.TempDir()
	writeHistory(t, dir)
	lg, err := OpenLogger(dir, "app.log")
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.Append("history 3"); err != nil {
		t.Fatal(err)
	}
	lg.Close()
	if got := readLog(t, dir); got != history+"history 3\n" {
		t.Errorf("log = %q", got)
	}
}

// TestCannotRewriteHistory tries every way capfd offers to change what the
// log already holds. Through the logger's append-only handles each is
// refused with ErrNotCapable and the history is intact; the same call
// through handles with write and truncate rights does change it, so each
// attempt is a real one and the rights are what stop it.
func TestCannotRewriteHistory(t *testing.T) {
	forge := func(f *capfd.File, err error) error {
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt([]byte("FORGED"), 0)
		return err
	}
	attempts := []struct {
		name string
		try  func(d *capfd.Dir, f *capfd.File) error
	}{
		{"open read-write", func(d *capfd.Dir, _ *capfd.File) error {
			return forge(d.OpenFile("app.log", os.O_RDWR, 0))
		}},
		{"open write-only without append", func(d *capfd.Dir, _ *capfd.File) error {
			return forge(d.OpenFile("app.log", os.O_WRONLY, 0))
		}},
		{"open with O_TRUNC", func(d *capfd.Dir, _ *capfd.File) error {
			f, err := d.OpenFile("app.log", os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"Create", func(d *capfd.Dir, _ *capfd.File) error {
			f, err := d.Create("app.log")
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"WriteFile", func(d *capfd.Dir, _ *capfd.File) error {
			return d.WriteFile("app.log", []byte("FORGED\n"), 0o644)
		}},
		{"Dir.Truncate", func(d *capfd.Dir, _ *capfd.File) error { return d.Truncate("app.log", 0) }},
		{"File.Truncate", func(_ *capfd.Dir, f *capfd.File) error { return f.Truncate(0) }},
		{"File.WriteAt", func(_ *capfd.Dir, f *capfd.File) error {
			_, err := f.WriteAt([]byte("FORGED"), 0)
			return err
		}},
		{"Seek then Write", func(_ *capfd.Dir, f *capfd.File) error {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			_, err := f.Write([]byte("FORGED"))
			return err
		}},
		{"Reopen write-only", func(_ *capfd.Dir, f *capfd.File) error { return forge(f.Reopen(os.O_WRONLY)) }},
		{"Reopen read-write", func(_ *capfd.Dir, f *capfd.File) error { return forge(f.Reopen(os.O_RDWR)) }},
		{"Reopen with O_TRUNC", func(_ *capfd.Dir, f *capfd.File) error {
			g, err := f.Reopen(os.O_WRONLY | os.O_APPEND | os.O_TRUNC)
			if err == nil {
				g.Close()
			}
			return err
		}},
		{"Limit to more rights", func(_ *capfd.Dir, f *capfd.File) error {
			g, err := f.Limit(f.Rights() | rights.Write | rights.Seek)
			if err != nil {
				return err
			}
			return forge(g.Reopen(os.O_WRONLY))
		}},
		{"Remove", func(d *capfd.Dir, _ *capfd.File) error { return d.Remove("app.log") }},
		{"Rename away", func(d *capfd.Dir, _ *capfd.File) error { return d.Rename("app.log", nil, "old.log") }},
	}

	// The logger's handles, and handles to the same kind of file without
	// the restriction: the log opened O_RDWR through a directory with
	// every right.
	appendOnly := func(t *testing.T, dir string) (*capfd.Dir, *capfd.File) {
		lg, err := OpenLogger(dir, "app.log")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lg.Close() })
		return lg.dir, lg.file
	}
	unrestricted := func(t *testing.T, dir string) (*capfd.Dir, *capfd.File) {
		d, err := capfd.OpenDir(dir, rights.Pair{Base: rights.All, Inherit: rights.All})
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.OpenFile("app.log", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close(); d.Close() })
		return d, f
	}

	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHistory(t, dir)
			fds := openFds(t)
			d, f := appendOnly(t, dir)
			err := a.try(d, f)
			if !errors.Is(err, capfd.ErrNotCapable) {
				t.Errorf("append-only: %v, want ErrNotCapable", err)
			}
			if got := readLog(t, dir); got != history {
				t.Errorf("append-only: history now %q", got)
			}
			if after := openFds(t); after != fds+2 { // the logger's dir and file
				t.Errorf("append-only: %d fds after the attempt, want %d", after, fds+2)
			}

			dir = t.TempDir()
			writeHistory(t, dir)
			d, f = unrestricted(t, dir)
			if err := a.try(d, f); err != nil {
				t.Errorf("with write and truncate rights: %v, want the attempt to work", err)
			}
			if got := readLog(t, dir); got == history {
				t.Errorf("with write and truncate rights: history unchanged, so this attempt proves nothing")
			}
		})
	}
}

func openFds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
