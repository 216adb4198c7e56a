package capfd

import (
	"os"
	"testing"
	"time"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

// writeAttempts are ways to change a tree through a Dir, each a complete
// attack from a Dir handle: open flags, reopening a file for writing,
// widening with Limit or OpenDir, and every method that changes entries or
// metadata.
var writeAttempts = []struct {
	name string
	run  func(d *Dir) error
}{
	{"OpenFile/wronly", func(d *Dir) error { return writeThrough(d.OpenFile("file", os.O_WRONLY, 0)) }},
	{"OpenFile/rdwr", func(d *Dir) error { return writeThrough(d.OpenFile("file", os.O_RDWR, 0)) }},
	{"OpenFile/append", func(d *Dir) error { return writeThrough(d.OpenFile("file", os.O_WRONLY|os.O_APPEND, 0)) }},
	{"OpenFile/rdonly-trunc", func(d *Dir) error { return closeFile(d.OpenFile("file", os.O_RDONLY|os.O_TRUNC, 0)) }},
	{"OpenFile/create", func(d *Dir) error { return closeFile(d.OpenFile("new", os.O_RDONLY|os.O_CREATE, 0o644)) }},
	{"Create", func(d *Dir) error { return closeFile(d.Create("file")) }},
	{"WriteFile", func(d *Dir) error { return d.WriteFile("file", []byte("pwned"), 0o644) }},
	{"Reopen/rdonly-to-rdwr", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error { return writeThrough(f.Reopen(os.O_RDWR)) })
	}},
	{"Reopen/path-to-wronly", func(d *Dir) error {
		return viaFile(d, "file", unix.O_PATH, func(f *File) error { return writeThrough(f.Reopen(os.O_WRONLY)) })
	}},
	{"Reopen/trunc", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error { return closeFile(f.Reopen(os.O_RDONLY | os.O_TRUNC)) })
	}},
	{"File.Limit/widen", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error {
			g, err := f.Limit((f.Rights() | rights.ReadWrite) & FileRights)
			if err != nil {
				return err
			}
			defer g.Close()
			return writeThrough(g.Reopen(os.O_RDWR))
		})
	}},
	{"File.Chmod", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error { return f.Chmod(0o777) })
	}},
	{"File.Chown", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error { return f.Chown(4242, 4242) })
	}},
	{"File.Chtimes", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error { return f.Chtimes(time.Unix(1, 0), time.Unix(1, 0)) })
	}},
	{"File.SetXattr", func(d *Dir) error {
		return viaFile(d, "file", os.O_RDONLY, func(f *File) error { return f.SetXattr("user.pwned", []byte("1"), 0) })
	}},
	{"Truncate", func(d *Dir) error { return d.Truncate("file", 0) }},
	{"Chmod", func(d *Dir) error { return d.Chmod("file", 0o777) }},
	{"Chown", func(d *Dir) error { return d.Chown("file", 4242, 4242) }},
	{"Chtimes", func(d *Dir) error { return d.Chtimes("file", time.Unix(1, 0), time.Unix(1, 0)) }},
	{"Mkdir", func(d *Dir) error { return d.Mkdir("new", 0o755) }},
	{"Remove", func(d *Dir) error { return d.Remove("file") }},
	{"RemoveAll", func(d *Dir) error { return d.RemoveAll("sub") }},
	{"Rename", func(d *Dir) error { return d.Rename("file", nil, "moved") }},
	{"Rename/over", func(d *Dir) error { return d.Rename("sub/inner", nil, "file") }},
	{"Link", func(d *Dir) error { return d.Link("file", nil, "hardlink") }},
	{"Symlink", func(d *Dir) error { return d.Symlink("file", "newlink") }},
	{"OpenDir/widen", func(d *Dir) error {
		sub, err := d.OpenDir("sub", rights.Uniform(rights.All))
		if err != nil {
			return err
		}
		defer sub.Close()
		return sub.WriteFile("inner", []byte("pwned"), 0o644)
	}},
	{"OpenDir/chain", func(d *Dir) error {
		sub, err := d.OpenDir("sub", d.Rights())
		if err != nil {
			return err
		}
		defer sub.Close()
		return writeThrough(sub.OpenFile("inner", os.O_RDWR, 0))
	}},
	{"Dir.Limit/widen", func(d *Dir) error {
		wide, err := d.Limit(rights.Uniform(rights.All))
		if err != nil {
			return err
		}
		defer wide.Close()
		return wide.WriteFile("file", []byte("pwned"), 0o644)
	}},
}

func writeThrough(f *File, err error) error {
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte("pwned"))
	return err
}

func viaFile(d *Dir, name string, flags int, fn func(f *File) error) error {
	f, err := d.OpenFile(name, flags, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
}

// TestReadOnlyCannotWrite runs every write attempt twice: with a Dir
// holding every right, where it must succeed and change the tree (so the
// attempt is a real write), and with a read-only Dir, where it must be
// refused with ErrNotCapable and change nothing.
func TestReadOnlyCannotWrite(t *testing.T) {
	checkNoFdLeak(t)
	if os.Geteuid() != 0 {
		t.Log("not root: the chown attempts are checked for refusal only")
	}
	for _, a := range writeAttempts {
		t.Run(a.name, func(t *testing.T) {
			root, all := tree(t, rights.Uniform(rights.All))
			before := snapshot(t, root)
			err := a.run(all)
			if err != nil && !(os.Geteuid() != 0 && errorsIsPerm(err)) {
				t.Fatalf("with every right: %v", err)
			}
			if err == nil && snapshot(t, root) == before {
				t.Fatalf("with every right the attempt changed nothing: it tests no write")
			}

			root, ro := tree(t, rights.Uniform(rights.ReadOnly))
			before = snapshot(t, root)
			wantNotCapable(t, a.run(ro))
			if after := snapshot(t, root); after != before {
				t.Fatalf("read-only capability changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func errorsIsPerm(err error) bool { return os.IsPermission(err) }

// TestRenameOverNeedsUnlink: replacing an entry destroys it, so a target
// directory with rename-to but not unlink may add entries by rename, never
// overwrite one.
func TestRenameOverNeedsUnlink(t *testing.T) {
	for _, c := range []struct {
		name        string
		rights      rights.Rights
		wantReplace bool
	}{
		{"rename-only", lookup | renameFrom | renameTo, false},
		{"rename-and-unlink", lookup | renameFrom | renameTo | unlink, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, d := tree(t, rights.Uniform(c.rights))
			err := d.Rename("sub/inner", nil, "file")
			data, rerr := os.ReadFile(root + "/file")
			if rerr != nil {
				t.Fatal(rerr)
			}
			if c.wantReplace {
				if err != nil || string(data) != "inner\n" {
					t.Fatalf("Rename over = %v, file = %q; want replaced", err, data)
				}
				return
			}
			if !os.IsExist(err) || string(data) != "hello\n" {
				t.Fatalf("Rename over = %v, file = %q; want fs.ErrExist and the file intact", err, data)
			}
			// Renaming to a new name is still allowed.
			if err := d.Rename("sub/inner", nil, "fresh"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
