package run

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/internal/semtest"
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
	plainRoot := mkdir(t, filepath.Join(top, "plain"))
	want := run(t, top, bin.pathsem, plainRoot)
	if want.code != 0 {
		t.Fatalf("plain run: %+v", want)
	}
	for _, g := range []struct{ name, rights string }{
		{"uniform", "all"},
		{"pinned", "all:all,-mount"},
	} {
		t.Run(g.name, func(t *testing.T) {
			root := mkdir(t, filepath.Join(top, g.name))
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
			if gs, ws := semtest.Names(t, root), semtest.Names(t, plainRoot); gs != ws {
				t.Errorf("trees afterwards differ:\ncapfd run:\n%s\nplainly:\n%s", gs, ws)
			}
		})
	}
}
