package capfd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

type inode struct{ dev, ino uint64 }

// FuzzOpenStaysInside opens arbitrary names through a Dir (plain and
// InRoot, with openat2 and with the fallback walker) and through its io/fs
// view, next to a directory full of ways out. Whatever the name, a
// successful open is of an inode inside the tree, and the FS view refuses
// every name io/fs calls invalid.
func FuzzOpenStaysInside(f *testing.F) {
	for _, seed := range []string{
		"file", "sub/deep/x", "link", "../outside/secret", "rel-out/secret",
		"abs-out/secret", "deep-out/secret", "magic/secret", "file-out",
		"/etc/passwd", "sub/../../outside/secret", "a\x00b", "", ".", "..",
		"sub/deep/../../link", strings.Repeat("../", 40) + "etc/passwd",
		"/proc/self/root/etc/passwd", "sub//inner", "./file", "sub/",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	root := escapeTree(f)
	if err := os.Symlink("/file", filepath.Join(root, "abs-in")); err != nil {
		f.Fatal(err)
	}
	inside := map[inode]bool{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		inside[inode{st.Dev, st.Ino}] = true
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := OpenDir(root, rights.Uniform(rights.ReadOnly))
	if err != nil {
		f.Fatal(err)
	}
	defer plain.Close()
	inRoot, err := OpenDir(root, rights.Uniform(rights.ReadOnly), InRoot)
	if err != nil {
		f.Fatal(err)
	}
	defer inRoot.Close()

	f.Fuzz(func(t *testing.T, name string, fallback bool) {
		prev := vfsops.ForceFallback(fallback)
		defer vfsops.ForceFallback(prev)
		for _, d := range []*Dir{plain, inRoot} {
			file, err := d.OpenFile(name, unix.O_PATH, 0)
			if err != nil {
				continue
			}
			var st unix.Stat_t
			serr := unix.Fstat(int(file.Fd()), &st)
			file.Close()
			if serr != nil {
				t.Fatal(serr)
			}
			if !inside[inode{st.Dev, st.Ino}] {
				t.Fatalf("Open(%q) (resolve %v, fallback %v) reached an inode outside the tree", name, d.how, fallback)
			}
		}
		file, err := plain.FS().Open(name)
		if err == nil {
			file.Close()
		}
		if !fs.ValidPath(name) && !errors.Is(err, fs.ErrInvalid) {
			t.Fatalf("FS.Open(%q) = %v, want fs.ErrInvalid", name, err)
		}
	})
}
