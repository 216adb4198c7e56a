package capfd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/capfd/capfd/rights"
)

func TestFS(t *testing.T) {
	checkNoFdLeak(t)
	_, d := tree(t, rights.Uniform(rights.ReadOnly))
	fsys := d.FS()
	if err := fstest.TestFS(fsys, "file", "empty", "sub/inner", "sub/deep/x", "link"); err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(fsys, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sub.(dirFS); !ok {
		t.Fatalf("fs.Sub did not use the FS's own Sub (got %T)", sub)
	}
	if err := fstest.TestFS(sub, "inner", "deep/x"); err != nil {
		t.Fatal(err)
	}
	deep, err := fs.Sub(sub, "deep")
	if err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(deep, "x"); err != nil || string(data) != "x\n" {
		t.Fatalf("Sub of Sub: ReadFile = %q, %v", data, err)
	}
	if _, err := fs.Sub(fsys, "file"); err == nil {
		t.Fatal("Sub of a file succeeded")
	}
}

// TestFSNames: io/fs names are checked before they reach the Dir, so names
// the Dir itself would accept (or would refuse only as escapes) fail as
// fs.ErrInvalid, for every method.
func TestFSNames(t *testing.T) {
	_, d := tree(t, rights.Uniform(rights.ReadOnly))
	fsys := d.FS().(dirFS)
	for _, name := range []string{"", "/file", "../file", "sub/../file", "./file", "sub/", "sub//inner", `sub\inner`} {
		if name == `sub\inner` {
			// Backslash is an ordinary character in io/fs names: the name is
			// valid and simply does not exist.
			if _, err := fsys.Open(name); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open(%q) = %v, want fs.ErrNotExist", name, err)
			}
			continue
		}
		calls := map[string]error{}
		_, calls["Open"] = fsys.Open(name)
		_, calls["ReadFile"] = fsys.ReadFile(name)
		_, calls["ReadDir"] = fsys.ReadDir(name)
		_, calls["Stat"] = fsys.Stat(name)
		_, calls["Lstat"] = fsys.Lstat(name)
		_, calls["ReadLink"] = fsys.ReadLink(name)
		_, calls["Sub"] = fsys.Sub(name)
		for method, err := range calls {
			var pe *fs.PathError
			if !errors.Is(err, fs.ErrInvalid) || !errors.As(err, &pe) || pe.Path != name {
				t.Errorf("%s(%q) = %v, want a *fs.PathError for %q matching fs.ErrInvalid", method, name, err, name)
			}
		}
	}
}

// TestFSEscapeAndRights: a valid name whose symlink leads out is still
// refused (by the Dir beneath the FS), and the FS obeys the Dir's rights.
func TestFSEscapeAndRights(t *testing.T) {
	root := escapeTree(t)
	d := openTestDir(t, root, rights.Uniform(rights.ReadOnly))
	if _, err := fs.ReadFile(d.FS(), "rel-out/secret"); !errors.Is(err, ErrEscape) {
		t.Fatalf("ReadFile through a symlink out = %v, want ErrEscape", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "rel-out/secret")); err != nil || string(data) != "secret\n" {
		t.Fatalf("control: the symlink does lead out without capfd (%q, %v)", data, err)
	}
	noRead := openTestDir(t, root, rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadOnly.Without(rights.Read)})
	_, err := fs.ReadFile(noRead.FS(), "file")
	var pe *fs.PathError
	if !errors.Is(err, ErrNotCapable) || !errors.As(err, &pe) || pe.Path != "file" {
		t.Fatalf("ReadFile without read = %v, want a *fs.PathError for \"file\" matching ErrNotCapable", err)
	}
}
