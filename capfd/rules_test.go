package capfd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// unreachable is a transport that must never be called: every method
// panics (through the nil embedded interface). A refused operation on a
// handle using it proves the refusal came before any transport call, and
// so before any system call or request to a broker.
type unreachable struct{ transport }

// TestRefusedBeforeTransport runs the refusals of the method tables on
// handles whose transport panics when touched.
func TestRefusedBeforeTransport(t *testing.T) {
	// Composite methods legitimately make a first call that is allowed
	// before a later step is refused.
	composite := map[string]bool{"RemoveAll": true, "DirEntry.Info": true}
	try := func(t *testing.T, what string, run func() error) {
		t.Helper()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("reached the transport: %v", r)
				}
			}()
			err = run()
		}()
		if !errors.Is(err, ErrNotCapable) {
			t.Errorf("%s: %v, want ErrNotCapable before any transport call", what, err)
		}
	}
	for _, c := range dirCases {
		if composite[c.name] {
			continue
		}
		for _, b := range bits(c.base) {
			d := &Dir{t: unreachable{}, rights: rights.Pair{Base: c.base.Without(b), Inherit: c.inherit}, name: "test"}
			try(t, c.name+" without base "+b.String(), func() error { return c.run(d) })
		}
		for _, b := range bits(c.inherit) {
			d := &Dir{t: unreachable{}, rights: rights.Pair{Base: c.base, Inherit: c.inherit.Without(b)}, name: "test"}
			try(t, c.name+" without inherit "+b.String(), func() error { return c.run(d) })
		}
	}
	for _, c := range fileCases {
		if composite[c.name] {
			continue
		}
		for _, b := range bits(c.needs) {
			f := newFile(unreachable{}, 0, c.needs.Without(b), "test", c.flags, 0)
			try(t, c.name+" without "+b.String(), func() error { return c.run(f) })
		}
	}
}

// TestOpenedFileRights pins down the rule for what an opened File carries:
// its Dir's Inherit rights (restricted to FileRights), whatever the open
// flags; the flags decide the access mode only. So a File opened read-only
// through a read-write Dir cannot write (the kernel refuses: EBADF) but may
// Reopen for writing, while one opened through a read-only Dir never can.
func TestOpenedFileRights(t *testing.T) {
	for _, c := range []struct {
		name          string
		inherit       rights.Rights
		wantReopenErr error
	}{
		{"through-rw", rights.ReadWrite, nil},
		{"through-ro", rights.ReadOnly, ErrNotCapable},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, d := tree(t, rights.Pair{Base: rights.ReadOnly, Inherit: c.inherit})
			f, err := d.Open("file")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if want := c.inherit & FileRights; f.Rights() != want {
				t.Fatalf("File carries %s, want %s", f.Rights(), want)
			}
			_, err = f.Write([]byte("x"))
			if c.inherit.Has(rights.Write) && !errors.Is(err, unix.EBADF) {
				t.Fatalf("Write on an O_RDONLY file = %v, want EBADF from the kernel", err)
			}
			if !c.inherit.Has(rights.Write) && !errors.Is(err, ErrNotCapable) {
				t.Fatalf("Write without the right = %v, want ErrNotCapable", err)
			}
			w, err := f.Reopen(os.O_WRONLY | os.O_APPEND)
			if !errors.Is(err, c.wantReopenErr) {
				t.Fatalf("Reopen for writing = %v, want %v", err, c.wantReopenErr)
			}
			if err == nil {
				if _, err := w.Write([]byte("more\n")); err != nil {
					t.Fatal(err)
				}
				w.Close()
				if data, _ := os.ReadFile(filepath.Join(root, "file")); string(data) != "hello\nmore\n" {
					t.Fatalf("after Reopen+Write: %q", data)
				}
				// Limit drops the write ceiling: then no Reopen can write.
				ro, err := f.Limit(f.Rights().Intersect(rights.ReadOnly))
				if err != nil {
					t.Fatal(err)
				}
				defer ro.Close()
				if _, err := ro.Reopen(os.O_RDWR); !errors.Is(err, ErrNotCapable) {
					t.Fatalf("Reopen of a limited File = %v, want ErrNotCapable", err)
				}
			}
		})
	}
}

// TestAppendOnly: a File whose rights have append but not write can add
// to a file opened O_APPEND and cannot rewrite it by any method.
func TestAppendOnly(t *testing.T) {
	root, d := tree(t, rights.Pair{Base: rights.Lookup, Inherit: rights.Lookup | rights.Append | rights.Seek})
	f, err := d.OpenFile("file", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("log\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), 0); err == nil {
		t.Fatal("WriteAt on an append-only file succeeded")
	}
	for _, flags := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC} {
		if _, err := f.Reopen(flags); !errors.Is(err, ErrNotCapable) {
			t.Fatalf("Reopen(%#x) = %v, want ErrNotCapable", flags, err)
		}
		if _, err := d.OpenFile("file", flags, 0); !errors.Is(err, ErrNotCapable) {
			t.Fatalf("OpenFile(%#x) = %v, want ErrNotCapable", flags, err)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(root, "file")); string(data) != "hello\nlog\n" {
		t.Fatalf("file = %q, want the old content plus the appended line", data)
	}
}

// otherTransport is a second local transport, as a broker's would be.
type otherTransport struct{ localTransport }

// TestCrossTransport: Rename and Link between handles of two transports
// fail with EXDEV: a handle of one names nothing in the other.
func TestCrossTransport(t *testing.T) {
	_, d := tree(t, rights.Uniform(rights.All))
	h, err := d.t.Dup(d.h, d.rights)
	if err != nil {
		t.Fatal(err)
	}
	other := &Dir{t: otherTransport{}, h: h, rights: d.rights, name: "other"}
	defer other.Close()
	if err := d.Rename("file", other, "moved"); !errors.Is(err, unix.EXDEV) {
		t.Fatalf("Rename across transports = %v, want EXDEV", err)
	}
	if err := d.Link("file", other, "linked"); !errors.Is(err, unix.EXDEV) {
		t.Fatalf("Link across transports = %v, want EXDEV", err)
	}
	// The same directory through the same transport works.
	if err := d.Rename("file", d, "moved"); err != nil {
		t.Fatal(err)
	}
}

// TestErrorMessage: a refusal names the operation, the path, what is
// missing, and what the handle holds (or may grant, for opens).
func TestErrorMessage(t *testing.T) {
	_, d := tree(t, rights.Pair{Base: rights.Lookup, Inherit: rights.Read})
	err := d.Mkdir("x", 0o755)
	want := "capfd: mkdir x: not capable: missing mkdir (needs lookup,mkdir; holds lookup)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	_, err = d.OpenFile("file", os.O_RDWR, 0)
	want = "capfd: open file: not capable: missing write (needs read,write; may grant read)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var capErr *Error
	if !errors.As(err, &capErr) || capErr.Op != "open" || capErr.Path != "file" ||
		capErr.Needed != rights.Read|rights.Write || capErr.Held != rights.Read {
		t.Fatalf("*Error fields: %+v", capErr)
	}
}

// TestOSErrors: failures of the system calls keep their errno and the
// caller's path, so errors.Is(err, fs.ErrNotExist) and friends work.
func TestOSErrors(t *testing.T) {
	_, d := tree(t, rights.Uniform(rights.All))
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"Open missing", closeFile(d.Open("nope")), os.ErrNotExist},
		{"Mkdir existing", d.Mkdir("sub", 0o755), os.ErrExist},
		{"Remove non-empty", d.Remove("sub"), unix.ENOTEMPTY},
		{"Stat missing", func() error { _, err := d.Stat("sub/nope"); return err }(), os.ErrNotExist},
		{"Rename missing", d.Rename("nope", nil, "x"), os.ErrNotExist},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
		var pe *os.PathError
		var le *os.LinkError
		if !errors.As(c.err, &pe) && !errors.As(c.err, &le) {
			t.Errorf("%s: %T is neither *fs.PathError nor *os.LinkError", c.name, c.err)
		}
	}
}
