package capfd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// TestRightsFollowTheObject: through a Dir, its own directory holds Base
// and everything beneath Inherit, whatever name reaches it: "sub/../file"
// and "up/file" (up -> .) are entries of the Dir's own directory,
// "sub/inner" one of sub, "." and "sub/.." the directory itself. Each case's
// expectation comes from vfsops.Request and rights.Pair (the one rule),
// given where the object really is; the effect is checked too.
func TestRightsFollowTheObject(t *testing.T) {
	baseWide := rights.Pair{Base: lookup | unlink | stat | chmod, Inherit: lookup | read | readdir}
	baseNarrow := rights.Pair{Base: lookup | readdir, Inherit: lookup | unlink | stat | chmod | read}
	type place int
	const (
		entryOfOwn place = iota // the final entry is in the Dir's own directory
		entryBeneath
		self // the object is the Dir's own directory
	)
	have := func(p rights.Pair, at place) map[vfsops.Operand]rights.Rights {
		switch at {
		case self:
			return map[vfsops.Operand]rights.Rights{vfsops.OnObject: p.Object(true), vfsops.OnDir: p.Dir(true)}
		case entryOfOwn:
			return map[vfsops.Operand]rights.Rights{vfsops.OnObject: p.Object(false), vfsops.OnDir: p.Dir(true)}
		}
		return map[vfsops.Operand]rights.Rights{vfsops.OnObject: p.Object(false), vfsops.OnDir: p.Dir(false)}
	}
	cases := []struct {
		name   string
		op     vfsops.Op
		at     place
		run    func(d *Dir) error
		effect func(root string) bool // did it happen?
	}{
		{"remove file", vfsops.OpUnlink, entryOfOwn, func(d *Dir) error { return d.Remove("file") }, gone("file")},
		{"remove sub/inner", vfsops.OpUnlink, entryBeneath, func(d *Dir) error { return d.Remove("sub/inner") }, gone("sub/inner")},
		{"remove sub/../file", vfsops.OpUnlink, entryOfOwn, func(d *Dir) error { return d.Remove("sub/../file") }, gone("file")},
		{"remove up/file", vfsops.OpUnlink, entryOfOwn, func(d *Dir) error { return d.Remove("up/file") }, gone("file")},
		{"remove up/sub/inner", vfsops.OpUnlink, entryBeneath, func(d *Dir) error { return d.Remove("up/sub/inner") }, gone("sub/inner")},
		{"stat file", vfsops.OpStat, entryOfOwn, func(d *Dir) error { _, err := d.Stat("file"); return err }, nil},
		{"stat .", vfsops.OpStat, self, func(d *Dir) error { _, err := d.Stat("."); return err }, nil},
		{"stat sub/..", vfsops.OpStat, self, func(d *Dir) error { _, err := d.Stat("sub/.."); return err }, nil},
		{"stat up (-> .)", vfsops.OpStat, self, func(d *Dir) error { _, err := d.Stat("up"); return err }, nil},
		{"chmod link (-> file)", vfsops.OpChmod, entryOfOwn, func(d *Dir) error { return d.Chmod("link", 0o600) }, modeIs("file", 0o600)},
		{"chmod sub/inner", vfsops.OpChmod, entryBeneath, func(d *Dir) error { return d.Chmod("sub/inner", 0o600) }, modeIs("sub/inner", 0o600)},
		{"chmod up", vfsops.OpChmod, self, func(d *Dir) error { return d.Chmod("up", 0o700) }, modeIs(".", 0o700)},
	}
	for _, p := range []rights.Pair{baseWide, baseNarrow} {
		for _, c := range cases {
			t.Run(p.String()+"/"+c.name, func(t *testing.T) {
				root := t.TempDir()
				populate(t, root)
				if err := os.Symlink(".", filepath.Join(root, "up")); err != nil {
					t.Fatal(err)
				}
				d := openTestDir(t, root, p)
				missing := vfsops.Request{Op: c.op}.Missing(have(p, c.at))
				err := c.run(d)
				switch {
				case missing == 0 && err != nil:
					t.Fatalf("refused (%v); the rule allows it", err)
				case missing != 0 && !errors.Is(err, ErrNotCapable):
					t.Fatalf("got %v; the rule refuses it (missing %v)", err, missing)
				}
				if c.effect != nil && c.effect(root) != (missing == 0) {
					t.Fatalf("effect %v, allowed %v", c.effect(root), missing == 0)
				}
			})
		}
	}
}

func gone(name string) func(string) bool {
	return func(root string) bool {
		_, err := os.Lstat(filepath.Join(root, name))
		return errors.Is(err, os.ErrNotExist)
	}
}

func modeIs(name string, mode os.FileMode) func(string) bool {
	return func(root string) bool {
		st, err := os.Stat(filepath.Join(root, name))
		return err == nil && st.Mode().Perm() == mode
	}
}
