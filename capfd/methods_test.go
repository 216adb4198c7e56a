package capfd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

const (
	lookup     = rights.Lookup
	read       = rights.Read
	write      = rights.Write
	appendR    = rights.Append
	seek       = rights.Seek
	stat       = rights.Stat
	truncate   = rights.Truncate
	create     = rights.Create
	mkdir      = rights.Mkdir
	unlink     = rights.Unlink
	renameFrom = rights.RenameFrom
	renameTo   = rights.RenameTo
	linkFrom   = rights.LinkFrom
	linkTo     = rights.LinkTo
	symlink    = rights.Symlink
	readlink   = rights.Readlink
	readdir    = rights.Readdir
	chmod      = rights.Chmod
	chown      = rights.Chown
	chtimes    = rights.Chtimes
	xattrGet   = rights.XattrGet
	xattrSet   = rights.XattrSet
	lock       = rights.Lock
	syncR      = rights.Sync
)

// closeFile adapts an opening method to the table: the file is closed, the
// error kept.
func closeFile(f *File, err error) error {
	if err == nil {
		f.Close()
	}
	return err
}

func closeDir(d *Dir, err error) error {
	if err == nil {
		d.Close()
	}
	return err
}

// dirCases lists every Dir method with the rights it needs: base on the
// Dir itself (its own directory, for the entries of which they act), inherit
// for the objects beneath it, which a single name reaches (rights/pair.go). The test runs each
// one with exactly those rights (must succeed), and with each one of them
// taken away (must fail with ErrNotCapable and leave the tree as it was).
var dirCases = []struct {
	name          string
	base, inherit rights.Rights
	run           func(d *Dir) error
}{
	{"Open", lookup, read, func(d *Dir) error { return closeFile(d.Open("file")) }},
	{"OpenFile/wronly", lookup, write, func(d *Dir) error { return closeFile(d.OpenFile("file", os.O_WRONLY, 0)) }},
	{"OpenFile/append", lookup, appendR, func(d *Dir) error { return closeFile(d.OpenFile("file", os.O_WRONLY|os.O_APPEND, 0)) }},
	{"OpenFile/rdwr-trunc", lookup, read | write | truncate, func(d *Dir) error { return closeFile(d.OpenFile("file", os.O_RDWR|os.O_TRUNC, 0)) }},
	{"OpenFile/create", lookup | create, read, func(d *Dir) error { return closeFile(d.OpenFile("new", os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)) }},
	{"OpenFile/tmpfile", lookup | create, write, func(d *Dir) error { return closeFile(d.OpenFile(".", os.O_WRONLY|unix.O_TMPFILE, 0o600)) }},
	{"OpenFile/path", lookup, lookup, func(d *Dir) error { return closeFile(d.OpenFile("file", unix.O_PATH, 0)) }},
	{"Create", lookup | create, read | write | truncate, func(d *Dir) error { return closeFile(d.Create("new")) }},
	{"OpenDir", lookup, read | stat, func(d *Dir) error { return closeDir(d.OpenDir("sub", rights.Pair{Base: read, Inherit: stat})) }},
	{"Mkdir", lookup | mkdir, 0, func(d *Dir) error { return d.Mkdir("newdir", 0o755) }},
	{"Remove/file", lookup | unlink, 0, func(d *Dir) error { return d.Remove("file") }},
	{"Remove/dir", lookup | unlink, 0, func(d *Dir) error { return d.Remove("empty") }},
	{"RemoveAll", lookup | unlink, lookup | unlink | readdir | stat, func(d *Dir) error { return d.RemoveAll("sub") }},
	{"Rename", lookup | renameFrom | renameTo, 0, func(d *Dir) error { return d.Rename("file", nil, "moved") }},
	{"Link", lookup | linkFrom | linkTo, 0, func(d *Dir) error { return d.Link("file", nil, "hardlink") }},
	{"Symlink", lookup | symlink, 0, func(d *Dir) error { return d.Symlink("file", "newlink") }},
	{"Readlink", lookup, readlink, func(d *Dir) error { _, err := d.Readlink("link"); return err }},
	{"Stat", lookup, stat, func(d *Dir) error { _, err := d.Stat("link"); return err }},
	{"Lstat", lookup, stat, func(d *Dir) error { _, err := d.Lstat("link"); return err }},
	{"Chmod", lookup, chmod, func(d *Dir) error { return d.Chmod("file", 0o600) }},
	{"Chown", lookup, chown, func(d *Dir) error { return d.Chown("file", 4242, 4242) }},
	{"Lchown", lookup, chown, func(d *Dir) error { return d.Lchown("link", 4242, 4242) }},
	{"Chtimes", lookup, chtimes, func(d *Dir) error {
		return d.Chtimes("file", time.Unix(1, 0), time.Unix(2, 0))
	}},
	{"Truncate", lookup, truncate, func(d *Dir) error { return d.Truncate("file", 1) }},
	{"ReadDir/self", lookup | readdir, 0, func(d *Dir) error { _, err := d.ReadDir("."); return err }},
	{"ReadDir/sub", lookup, readdir, func(d *Dir) error { _, err := d.ReadDir("sub"); return err }},
	{"ReadFile", lookup, read, func(d *Dir) error { _, err := d.ReadFile("file"); return err }},
	{"WriteFile", lookup | create, write | truncate, func(d *Dir) error { return d.WriteFile("file", []byte("x"), 0o644) }},
}

func TestDirMethodsRights(t *testing.T) {
	checkNoFdLeak(t)
	for _, c := range dirCases {
		t.Run(c.name, func(t *testing.T) {
			if (c.base|c.inherit)&chown != 0 && os.Geteuid() != 0 {
				t.Skip("chown to another uid needs root (CAP_CHOWN)")
			}
			_, d := tree(t, rights.Pair{Base: c.base, Inherit: c.inherit})
			if err := c.run(d); err != nil {
				t.Fatalf("with exactly %s:%s: %v", c.base, c.inherit, err)
			}
			for _, b := range bits(c.base) {
				runRefused(t, "base-"+b.String(), rights.Pair{Base: c.base.Without(b), Inherit: c.inherit}, c.run)
			}
			for _, b := range bits(c.inherit) {
				runRefused(t, "inherit-"+b.String(), rights.Pair{Base: c.base, Inherit: c.inherit.Without(b)}, c.run)
			}
		})
	}
}

// runRefused runs op on a fresh tree with rights r and checks it is refused
// for lack of rights without touching the tree.
func runRefused(t *testing.T, name string, r rights.Pair, op func(d *Dir) error) {
	t.Run(name, func(t *testing.T) {
		root, d := tree(t, r)
		before := snapshot(t, root)
		wantNotCapable(t, op(d))
		if after := snapshot(t, root); after != before {
			t.Fatalf("refused operation changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// fileCases lists every File method with the rights it needs. The file is
// opened with flags through a Dir that may grant everything, then limited
// to exactly the rights (must succeed) or to them less one (must fail).
var fileCases = []struct {
	name  string
	path  string
	flags int
	needs rights.Rights
	run   func(f *File) error
}{
	{"Read", "file", os.O_RDONLY, read, func(f *File) error { _, err := f.Read(make([]byte, 4)); return err }},
	{"ReadAt", "file", os.O_RDONLY, read | seek, func(f *File) error { _, err := f.ReadAt(make([]byte, 4), 1); return err }},
	{"Write", "file", os.O_WRONLY, write, func(f *File) error { _, err := f.Write([]byte("w")); return err }},
	{"Write/append", "file", os.O_WRONLY | os.O_APPEND, appendR, func(f *File) error { _, err := f.Write([]byte("a")); return err }},
	{"WriteAt", "file", os.O_RDWR, write | seek, func(f *File) error { _, err := f.WriteAt([]byte("w"), 2); return err }},
	{"Seek", "file", os.O_RDONLY, seek, func(f *File) error { _, err := f.Seek(2, 0); return err }},
	{"Stat", "file", os.O_RDONLY, stat, func(f *File) error { _, err := f.Stat(); return err }},
	{"Truncate", "file", os.O_RDWR, truncate, func(f *File) error { return f.Truncate(1) }},
	{"Sync", "file", os.O_RDWR, syncR, func(f *File) error { return f.Sync() }},
	{"Chmod", "file", os.O_RDONLY, chmod, func(f *File) error { return f.Chmod(0o600) }},
	{"Chown", "file", os.O_RDONLY, chown, func(f *File) error { return f.Chown(4242, 4242) }},
	{"Chtimes", "file", os.O_RDONLY, chtimes, func(f *File) error { return f.Chtimes(time.Unix(1, 0), time.Unix(2, 0)) }},
	{"Lock", "file", os.O_RDONLY, lock, func(f *File) error { return f.Lock(true) }},
	{"TryLock", "file", os.O_RDONLY, lock, func(f *File) error { _, err := f.TryLock(false); return err }},
	{"Unlock", "file", os.O_RDONLY, lock, func(f *File) error { return f.Unlock() }},
	{"SetXattr", "file", os.O_RDONLY, xattrSet, func(f *File) error { return f.SetXattr("user.capfd", []byte("v"), 0) }},
	{"GetXattr", "sub/inner", os.O_RDONLY, xattrGet, func(f *File) error { _, err := f.GetXattr("user.t"); return err }},
	{"ListXattr", "sub/inner", os.O_RDONLY, xattrGet, func(f *File) error { _, err := f.ListXattr(); return err }},
	{"RemoveXattr", "sub/inner", os.O_RDONLY, xattrSet, func(f *File) error { return f.RemoveXattr("user.t") }},
	{"ReadDir", "sub", os.O_RDONLY | unix.O_DIRECTORY, readdir, func(f *File) error { _, err := f.ReadDir(-1); return err }},
	{"Readdirnames", "sub", os.O_RDONLY | unix.O_DIRECTORY, readdir, func(f *File) error { _, err := f.Readdirnames(1); return err }},
	{"DirEntry.Info", "sub", os.O_RDONLY | unix.O_DIRECTORY, readdir | lookup | stat, func(f *File) error {
		entries, err := f.ReadDir(1)
		if err != nil {
			return err
		}
		_, err = entries[0].Info()
		return err
	}},
	{"Reopen/read", "file", unix.O_PATH, lookup | read, func(f *File) error { return closeFile(f.Reopen(os.O_RDONLY)) }},
	{"Reopen/rdwr", "file", os.O_RDONLY, lookup | read | write, func(f *File) error { return closeFile(f.Reopen(os.O_RDWR)) }},
	{"Reopen/trunc", "file", unix.O_PATH, lookup | write | truncate, func(f *File) error { return closeFile(f.Reopen(os.O_WRONLY | os.O_TRUNC)) }},
	{"Reopen/append", "file", unix.O_PATH, lookup | appendR, func(f *File) error { return closeFile(f.Reopen(os.O_WRONLY | os.O_APPEND)) }},
	// O_TMPFILE shares O_DIRECTORY's bit: a directory reopen must not be
	// mistaken for it.
	{"Reopen/directory", "sub", unix.O_PATH | unix.O_DIRECTORY, lookup | readdir, func(f *File) error {
		return closeFile(f.Reopen(os.O_RDONLY | unix.O_DIRECTORY))
	}},
}

func TestFileMethodsRights(t *testing.T) {
	checkNoFdLeak(t)
	for _, c := range fileCases {
		t.Run(c.name, func(t *testing.T) {
			if c.needs&chown != 0 && os.Geteuid() != 0 {
				t.Skip("chown to another uid needs root (CAP_CHOWN)")
			}
			run := func(t *testing.T, r rights.Rights) (root string, f *File) {
				root, d := tree(t, rights.Uniform(rights.All))
				if err := unix.Setxattr(filepath.Join(root, "sub", "inner"), "user.t", []byte("1"), 0); err != nil {
					t.Fatalf("setxattr (test setup): %v", err)
				}
				full, err := d.OpenFile(c.path, c.flags, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer full.Close()
				f, err = full.Limit(r)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return root, f
			}
			_, f := run(t, c.needs)
			if err := c.run(f); err != nil {
				t.Fatalf("with exactly %s: %v", c.needs, err)
			}
			for _, b := range bits(c.needs) {
				t.Run("without-"+b.String(), func(t *testing.T) {
					root, f := run(t, c.needs.Without(b))
					before := snapshot(t, root)
					wantNotCapable(t, c.run(f))
					if after := snapshot(t, root); after != before {
						t.Fatalf("refused operation changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
					}
				})
			}
		})
	}
}

// TestChownThatKeepsOwner: a chown to the owner and group a file has
// needs chmod, not chown (vfsops.Request.KeepsOwner), through a Dir and
// through a File; giving it another owner needs chown.
func TestChownThatKeepsOwner(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	other := uid + 1
	for _, tc := range []struct {
		name         string
		held         rights.Rights
		uid, gid     int
		wantNotCapab bool
	}{
		{"same owner, chmod", rights.Lookup | rights.Chmod, uid, gid, false},
		{"unchanged ids, chmod", rights.Lookup | rights.Chmod, -1, -1, false},
		{"same owner, neither", rights.Lookup | rights.Read, uid, -1, true},
		{"other owner, chmod", rights.Lookup | rights.Chmod, other, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openTestDir(t, dir, rights.Uniform(tc.held))
			err := d.Chown("f", tc.uid, tc.gid)
			if got := errors.Is(err, ErrNotCapable); got != tc.wantNotCapab {
				t.Errorf("Dir.Chown: %v, want not capable=%v", err, tc.wantNotCapab)
			}
			f, err := d.OpenFile("f", os.O_RDONLY|unix.O_PATH, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = f.Chown(tc.uid, tc.gid)
			if got := errors.Is(err, ErrNotCapable); got != tc.wantNotCapab {
				t.Errorf("File.Chown: %v, want not capable=%v", err, tc.wantNotCapab)
			}
		})
	}
}
