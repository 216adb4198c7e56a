package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

// TestLearnedGrants checks the rules of learn.go on a tree of its own:
// collapsing, what is never widened, created entries, missing probes, the
// skeleton, the profiles and the user's grants.
func TestLearnedGrants(t *testing.T) {
	root := t.TempDir() // /tmp/TestX/001: three components, collapsible
	mk := func(rel string) string {
		p := filepath.Join(root, rel)
		dir := filepath.Dir(p)
		if strings.HasSuffix(rel, "/") {
			dir = p
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(rel, "/") {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Clean(p)
	}
	lib := filepath.Join(root, "lib")
	read := rights.Read
	needs := []notify.Need{
		// Three files of lib read: lib is granted, for reading.
		{Path: mk("lib/a"), Object: read}, {Path: mk("lib/b"), Object: read}, {Path: mk("lib/c"), Object: read},
		// Two files of conf: two lines.
		{Path: mk("conf/x"), Object: read}, {Path: mk("conf/y"), Object: read},
		// A file created in out (and its directory's create right).
		{Path: filepath.Join(mk("out/"), "new"), Object: rights.Write, Parent: rights.Create},
		// A missing probe outside: dropped.
		{Path: filepath.Join(root, "nowhere/file"), Object: rights.Stat},
		// A realpath's lookups of the root's ancestors: the skeleton's.
		{Path: root, Object: rights.Stat | rights.Readlink}, {Path: filepath.Dir(root), Object: rights.Stat},
		// procfs cannot be granted.
		{Path: "/proc/self/maps", Object: read},
		// Covered by the profile below.
		{Path: mk("prof/p"), Object: read},
		// In the user's grant, beyond it: widened.
		{Path: mk("user/w"), Object: rights.Write},
	}
	// Files of /etc (one component): never /etc itself.
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/hostname"} {
		if _, err := os.Stat(f); err == nil {
			needs = append(needs, notify.Need{Path: f, Object: read})
		}
	}
	l := NewLearner()
	for _, n := range needs {
		l.add(n)
	}
	user := []notify.Grant{{Path: filepath.Join(root, "user"), Rights: rights.Uniform(rights.ReadOnly)}}
	profiles := []notify.Grant{{Path: filepath.Join(root, "prof"), Rights: rights.Uniform(rights.ReadOnly)}}
	got := map[string]LearnedGrant{}
	for _, g := range l.Grants(user, profiles) {
		got[g.Path] = g
	}
	want := map[string]rights.Rights{
		lib:                           read | dirMetadata,
		filepath.Join(root, "conf/x"): read | rights.Lookup,
		filepath.Join(root, "conf/y"): read | rights.Lookup,
		filepath.Join(root, "out"):    rights.Write | rights.Create | dirMetadata,
		filepath.Join(root, "user"):   0, // checked below
	}
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/hostname"} {
		if _, err := os.Stat(f); err == nil {
			want[f] = read | rights.Lookup
		}
	}
	for p, r := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("no grant of %s", p)
		case r != 0 && g.Rights != rights.Uniform(r):
			t.Errorf("%s=%v, want %v", p, g.Rights, rights.Uniform(r))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected grant %s=%v", p, got[p].Rights)
		}
	}
	if u := got[filepath.Join(root, "user")]; !u.User || !u.Rights.Inherit.Has(rights.Write) || u.Rights.Base.Has(rights.Write) || u.Entries != 1 {
		t.Errorf("the user's grant: %+v, want it widened beneath only", u)
	}
	var b strings.Builder
	if err := WriteGrantFile(&b, []string{"prog", "a\nb"}, l.Grants(user, profiles)); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.HasPrefix(line, "#") && !strings.Contains(line, "=") {
			t.Errorf("not a grant line: %q", line)
		}
	}
}
