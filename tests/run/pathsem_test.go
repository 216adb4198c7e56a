package run

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPathSemantics: under `capfd run` a trailing slash means what it means
// to the kernel (rename("file", "target/") is ENOTDIR, rmdir("link/")
// ENOTDIR, mkdir("dangling/") EEXIST, lstat("link/") the directory).
// testdata/pathsem
// makes each call in a fresh scratch tree and prints the result; the
// output and the trees afterwards must be those of a plain run. The grant
// is tried uniform and with base and inherit rights that differ, which
// makes the supervisor pin every path to its parent directory
// (place_linux.go), its other way of acting on the final name.
func TestPathSemantics(t *testing.T) {
	requireRun(t)
	top := t.TempDir()
	plainRoot := filepath.Join(top, "plain")
	if err := os.Mkdir(plainRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	want := run(t, top, bin.pathsem, plainRoot)
	if want.code != 0 {
		t.Fatalf("plain run: %+v", want)
	}
	for _, g := range []struct{ name, rights string }{
		{"uniform", "all"},
		{"pinned", "all:all,-mount"},
	} {
		t.Run(g.name, func(t *testing.T) {
			root := filepath.Join(top, g.name)
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			got := capfdRun(t, top, []string{"--grant", root + "=" + g.rights, "--grant", bin.dir + "=rx"}, bin.pathsem, root)
			if got.code != 0 {
				t.Fatalf("capfd run: %+v", got)
			}
			wl, gl := strings.Split(want.stdout, "\n"), strings.Split(got.stdout, "\n")
			for i := range max(len(wl), len(gl)) {
				var w, g string
				if i < len(wl) {
					w = wl[i]
				}
				if i < len(gl) {
					g = gl[i]
				}
				if w != g {
					t.Errorf("capfd run: %q\n    plainly: %q", g, w)
				}
			}
			if gs, ws := pathTreeState(t, root), pathTreeState(t, plainRoot); gs != ws {
				t.Errorf("trees afterwards differ:\ncapfd run:\n%s\nplainly:\n%s", gs, ws)
			}
		})
	}
}

// pathTreeState lists every name under root with its type, a symlink's
// target and a file's contents.
func pathTreeState(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := rel + " " + e.Type().String()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case e.Type().IsRegular():
			data, _ := os.ReadFile(p)
			line += " " + string(data)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
