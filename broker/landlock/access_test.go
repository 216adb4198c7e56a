package landlock

import (
	"os"
	"path/filepath"
	"testing"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/capfd/capfd/rights"
)

func TestAccessFor(t *testing.T) {
	cases := []struct {
		rights rights.Rights
		isDir  bool
		want   AccessFS
	}{
		{rights.Read, false, ll.AccessFSReadFile},
		{rights.Readdir, true, ll.AccessFSReadDir},
		{rights.Readdir, false, 0}, // directory-only bit dropped on a file
		{rights.Write, false, ll.AccessFSWriteFile},
		{rights.Connect, false, ll.AccessFSResolveUnix},
		{rights.Append, false, ll.AccessFSWriteFile},
		{rights.Truncate, false, ll.AccessFSTruncate},
		{rights.Exec, false, ll.AccessFSExecute},
		{rights.Create, true, ll.AccessFSMakeReg},
		{rights.Mkdir, true, ll.AccessFSMakeDir},
		{rights.Unlink, true, ll.AccessFSRemoveFile | ll.AccessFSRemoveDir},
		{rights.Symlink, true, ll.AccessFSMakeSym},
		{rights.RenameFrom, true, ll.AccessFSRefer | ll.AccessFSRemoveFile | ll.AccessFSRemoveDir},
		{rights.LinkTo, true, ll.AccessFSRefer | ll.AccessFSMakeReg | ll.AccessFSMakeSym},
		{rights.Ioctl, false, ll.AccessFSIoctlDev},
		{rights.ReadOnly, false, ll.AccessFSReadFile},
		{rights.ReadOnly, true, ll.AccessFSReadFile | ll.AccessFSReadDir},
		{rights.Chmod | rights.Chown | rights.Chtimes | rights.XattrSet | rights.Mount | rights.Stat | rights.Readlink, true, 0},
	}
	for _, c := range cases {
		if got := AccessFor(c.rights, c.isDir); got != c.want {
			t.Errorf("AccessFor(%v, dir=%v) = %v, want %v", c.rights, c.isDir, got, c.want)
		}
	}
	// Never a make/remove/refer bit on a file: the kernel refuses such rules.
	if got := AccessFor(rights.All, false); got&^fileAccess != 0 {
		t.Errorf("AccessFor(all, file) has directory bits %v", got&^fileAccess)
	}
	// Device nodes, fifos and sockets are never granted.
	never := AccessFS(ll.AccessFSMakeChar | ll.AccessFSMakeBlock | ll.AccessFSMakeFifo | ll.AccessFSMakeSock)
	if got := AccessFor(rights.All, true); got&never != 0 {
		t.Errorf("AccessFor(all, dir) grants %v", got&never)
	}
}

func TestAccessForGrantSplitsBaseAndInherit(t *testing.T) {
	// A directory that may create files but whose files are read-only:
	// MAKE_REG from Base, READ_FILE but no WRITE_FILE from Inherit.
	p := rights.Pair{Base: rights.Lookup | rights.Readdir | rights.Create, Inherit: rights.ReadOnly}
	got := accessForGrant(p, true)
	want := AccessFS(ll.AccessFSReadDir | ll.AccessFSMakeReg | ll.AccessFSReadFile)
	if got != want {
		t.Errorf("dir grant %v: got %v, want %v", p, got, want)
	}
	// A Base write right on a directory does not let its files be written.
	p = rights.Pair{Base: rights.ReadWrite, Inherit: rights.ReadOnly}
	if got := accessForGrant(p, true); got&ll.AccessFSWriteFile != 0 {
		t.Errorf("dir grant %v lets files be written: %v", p, got)
	}
}

func TestReportByABI(t *testing.T) {
	grants := []Grant{{Path: "/x", Rights: rights.Uniform(rights.ReadWrite | rights.Ioctl | rights.Exec)}}
	cases := []struct {
		abi       int
		beyondABI rights.Rights
	}{
		{1, rights.Truncate | rights.RenameFrom | rights.RenameTo | rights.LinkFrom | rights.LinkTo | rights.Ioctl},
		{2, rights.Truncate | rights.Ioctl},
		{3, rights.Ioctl},
		{5, 0},
		{7, 0},
	}
	for _, c := range cases {
		r := newReport(c.abi, grants)
		if r.BeyondABI != c.beyondABI {
			t.Errorf("ABI %d: beyond %v, want %v", c.abi, r.BeyondABI, c.beyondABI)
		}
		if r.Enforced&r.BeyondABI != 0 {
			t.Errorf("ABI %d: %v both enforced and beyond", c.abi, r.Enforced&r.BeyondABI)
		}
		wantInexpressible := (rights.ReadWrite | rights.Ioctl | rights.Exec) &^ Expressible
		if r.Inexpressible != wantInexpressible || r.Inexpressible.Has(rights.Chmod) != true {
			t.Errorf("ABI %d: inexpressible %v, want %v", c.abi, r.Inexpressible, wantInexpressible)
		}
	}
}

func TestWidenings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The file asks for read only, but its directory passes write on.
	rules, err := resolve([]Grant{
		{Path: dir, Rights: rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadWrite}},
		{Path: file, Rights: rights.Uniform(rights.ReadOnly)},
	}, handledAt(7))
	if err != nil {
		t.Fatal(err)
	}
	w := widenings(rules)
	if len(w) != 1 || w[0].Path != file || w[0].Extra&ll.AccessFSWriteFile == 0 {
		t.Fatalf("widenings = %+v, want %s widened by write_file", w, file)
	}
	if w[0].Extra&^fileAccess != 0 {
		t.Errorf("file widened by directory bits %v", w[0].Extra&^fileAccess)
	}
	// A read-only directory does not widen its read-write file.
	rules, err = resolve([]Grant{
		{Path: dir, Rights: rights.Uniform(rights.ReadOnly)},
		{Path: file, Rights: rights.Uniform(rights.ReadWrite)},
	}, handledAt(7))
	if err != nil {
		t.Fatal(err)
	}
	if w := widenings(rules); len(w) != 0 {
		t.Errorf("widenings = %+v, want none", w)
	}
}

func TestResolveRejects(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		grant Grant
	}{
		{"empty path", Grant{Path: "", Rights: rights.Uniform(rights.Read)}},
		{"missing path", Grant{Path: filepath.Join(dir, "missing"), Rights: rights.Uniform(rights.Read)}},
		{"unknown right", Grant{Path: dir, Rights: rights.Uniform(1 << 62)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := resolve([]Grant{c.grant}, handledAt(7)); err == nil {
				t.Fatal("resolve accepted it")
			}
		})
	}
}
