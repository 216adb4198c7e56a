package profile

import (
	"path"
	"testing"

	"github.com/capfd/capfd/rights"
)

func TestDefaultProfile(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range DefaultEntries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
			t.Errorf("%q: not a clean absolute path", e.Path)
		}
		if seen[e.Path] {
			t.Errorf("%q: listed twice", e.Path)
		}
		seen[e.Path] = true
		if e.Why == "" {
			t.Errorf("%q: no reason given", e.Path)
		}
		p, err := rights.ParsePair(e.Rights)
		if err != nil {
			t.Errorf("%q: %v", e.Path, err)
			continue
		}
		// Nothing in the default profile may change a directory, and
		// only /dev/null may be written.
		changes := rights.Create | rights.Mkdir | rights.Unlink | rights.RenameFrom | rights.RenameTo |
			rights.LinkTo | rights.Symlink | rights.Chmod | rights.Chown | rights.Chtimes | rights.XattrSet | rights.Mount
		if all := p.Base | p.Inherit; all&changes != 0 {
			t.Errorf("%q: grants %v", e.Path, all&changes)
		}
		if (p.Base | p.Inherit).Has(rights.Write) && e.Path != "/dev/null" {
			t.Errorf("%q: writable", e.Path)
		}
		if len(path.Dir(e.Path)) > 1 && path.Dir(e.Path) == "/proc" {
			t.Errorf("%q: procfs", e.Path)
		}
	}
	if got := Default(); len(got) != len(DefaultEntries) || !got[0].Optional {
		t.Errorf("Default() = %d grants, optional=%v", len(got), got[0].Optional)
	}
}
