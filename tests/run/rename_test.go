package run

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRenameOverNeedsUnlink: renaming onto an existing entry destroys it,
// so it needs unlink on the target directory, as in Capsicum and the
// library. `mv new keep` replaces keep plainly (the attack is real); under
// a grant without unlink it is refused and keep survives, while a rename
// to a fresh name still works and, with unlink, the replacing one too.
func TestRenameOverNeedsUnlink(t *testing.T) {
	requireRun(t)
	cases := []struct {
		name     string
		capfd    bool
		rights   string
		to       string
		replaced bool // keep now holds "new"
		moved    bool // new is gone
	}{
		{"plainly mv replaces", false, "", "keep", true, true},
		{"without unlink the existing entry survives", true, "rw,-unlink", "keep", false, false},
		{"without unlink a fresh name works", true, "rw,-unlink", "fresh", false, true},
		{"with unlink it replaces", true, "rw", "keep", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{"new": "new\n", "keep": "keep\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			prog := []string{"mv", filepath.Join(dir, "new"), filepath.Join(dir, c.to)}
			var o outcome
			if c.capfd {
				o = capfdRun(t, dir, []string{"--grant", dir + "=" + c.rights}, prog...)
			} else {
				o = run(t, dir, prog...)
			}
			keep, _ := os.ReadFile(filepath.Join(dir, "keep"))
			_, errNew := os.Stat(filepath.Join(dir, "new"))
			if got := string(keep) == "new\n"; got != c.replaced {
				t.Errorf("keep replaced: %v, want %v (keep holds %q)\n%+v", got, c.replaced, keep, o)
			}
			if got := os.IsNotExist(errNew); got != c.moved {
				t.Errorf("new moved: %v, want %v\n%+v", got, c.moved, o)
			}
			if c.capfd && !c.replaced && !c.moved {
				wantContains(t, "stderr", o.stderr, "needs unlink")
			}
		})
	}
}
