package profile

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

var update = flag.Bool("update", false, "rewrite the generated section of docs/run.md")

// changes are the rights that change a directory's contents or an
// object's metadata.
const changes = rights.Create | rights.Mkdir | rights.Unlink | rights.RenameFrom | rights.RenameTo |
	rights.LinkTo | rights.Symlink | rights.Chmod | rights.Chown | rights.Chtimes | rights.XattrSet | rights.Mount

// writable are the only entries that may write, by profile, and a word
// their Why must contain to say why.
var writable = map[string]string{
	"default /dev/null":  "writable",
	"posix-shm /dev/shm": "writable",
}

// allProfiles is the default profile (named "default") and every named one.
func allProfiles() []Profile {
	return append([]Profile{{Name: "default", Entries: DefaultEntries}}, Named...)
}

// checkEntries checks one profile's table.
func checkEntries(t *testing.T, p Profile) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range p.Entries {
		where := p.Name + " " + e.Path
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
			t.Errorf("%s: not a clean absolute path", where)
		}
		if _, err := filepath.Match(e.Path, "/"); err != nil {
			t.Errorf("%s: bad pattern: %v", where, err)
		}
		if seen[e.Path] {
			t.Errorf("%s: listed twice", where)
		}
		seen[e.Path] = true
		if e.Why == "" {
			t.Errorf("%s: no reason given", where)
		}
		if strings.HasPrefix(e.Path, "/proc/") || e.Path == "/proc" {
			t.Errorf("%s: procfs", where)
		}
		pr, err := rights.ParsePair(e.Rights)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		all := pr.Base | pr.Inherit
		if word, ok := writable[where]; ok {
			if !strings.Contains(e.Why, word) {
				t.Errorf("%s: writable, and its Why does not say %q", where, word)
			}
			continue
		}
		if all&changes != 0 || all.Has(rights.Write) || all.Has(rights.Append) || all.Has(rights.Truncate) {
			t.Errorf("%s: grants %v: profiles are read-only but for %v", where, all&(changes|rights.Write|rights.Append|rights.Truncate), keys(writable))
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestDefaultProfile(t *testing.T) {
	checkEntries(t, Profile{Name: "default", Entries: DefaultEntries})
	// No default entry lies beneath another: such nested grants cost the
	// supervisor a pinning walk per lookup (docs/run.md says the default
	// profile needs none).
	for _, a := range DefaultEntries {
		for _, b := range DefaultEntries {
			if strings.HasPrefix(a.Path, b.Path+"/") {
				t.Errorf("%s lies beneath %s", a.Path, b.Path)
			}
		}
	}
	got := Default()
	if len(got) != len(DefaultEntries) {
		t.Errorf("Default() = %d grants, want %d (no patterns in the default profile)", len(got), len(DefaultEntries))
	}
	for _, g := range got {
		if !g.Optional {
			t.Errorf("%s: not optional", g.Path)
		}
	}
}

func TestNamedProfiles(t *testing.T) {
	names := map[string]bool{"default": true}
	for _, p := range Named {
		if names[p.Name] || p.Name == "" || strings.ContainsAny(p.Name, " ,=") {
			t.Errorf("profile name %q: empty, repeated or not a word", p.Name)
		}
		names[p.Name] = true
		if p.Summary == "" || p.Note == "" || len(p.Entries) == 0 {
			t.Errorf("profile %s: no summary, note or entries", p.Name)
		}
		checkEntries(t, p)
		// A named profile extends the default one: an entry the default
		// profile already covers with at least its rights is redundant
		// (and would be a second source of truth).
		for _, e := range p.Entries {
			pr := mustPair(e.Rights)
			for _, d := range DefaultEntries {
				dr := mustPair(d.Rights)
				same := e.Path == d.Path && pr.Base&^dr.Base == 0
				beneath := strings.HasPrefix(e.Path, d.Path+"/") && pr.Base&^dr.Inherit == 0
				if (same || beneath) && pr.Inherit&^dr.Inherit == 0 {
					t.Errorf("profile %s: %s is already in the default profile (%s %s)", p.Name, e.Path, d.Path, d.Rights)
				}
			}
		}
	}
	for _, want := range []string{"dev", "python", "node", "go", "git", "posix-shm"} {
		if _, err := Lookup(want); err != nil {
			t.Error(err)
		}
	}
}

func TestNoSecrets(t *testing.T) {
	for _, p := range allProfiles() {
		for _, e := range p.Entries {
			for _, s := range Sensitive {
				if s.Exempt == p.Name {
					continue
				}
				// The entry (or, for a pattern, a match of it) is the
				// sensitive path or one of its ancestors.
				for q := s.Path; ; q = path.Dir(q) {
					if ok, _ := path.Match(e.Path, q); ok || e.Path == q {
						t.Errorf("profile %s: %s grants %s", p.Name, e.Path, s.Path)
					}
					if q == "/" {
						break
					}
				}
			}
		}
	}
}

func TestLookup(t *testing.T) {
	_, err := Lookup("nope")
	if err == nil {
		t.Fatal("Lookup(nope) succeeded")
	}
	for _, p := range Named {
		if !strings.Contains(err.Error(), p.Name) {
			t.Errorf("error %q does not list %s", err, p.Name)
		}
	}
}

func TestGrants(t *testing.T) {
	if _, err := Grants(false, []string{"dev", "nope"}, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown profile: err %v", err)
	}
	only, err := Grants(true, nil, nil)
	if err != nil || len(only) != 0 {
		t.Errorf("no profile at all: %v, %v", only, err)
	}

	dir := t.TempDir()
	for _, d := range []string{"py3.11", "py3.12", "other"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	saved := Named
	t.Cleanup(func() { Named = saved })
	Named = []Profile{
		{Name: "a", Entries: []Entry{{dir + "/py3*", "ro", "pattern"}, {"/shared", "ro", "in both"}, {"/etc/passwd", "rx", "also default"}}},
		{Name: "b", Entries: []Entry{{"/shared", "read,exec", "in both"}, {"/mine", "ro", "the user's"}}},
	}
	user := []notify.Grant{{Path: "/mine", Rights: rights.Uniform(rights.ReadWrite)}, {Path: "/usr/share/", Rights: rights.Pair{}}}
	got, err := Grants(false, []string{"a", "b"}, user)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]notify.Grant{}
	var order []string
	for _, g := range got {
		if _, dup := byPath[g.Path]; dup {
			t.Errorf("%s granted twice", g.Path)
		}
		byPath[g.Path] = g
		order = append(order, g.Path)
		if !g.Optional {
			t.Errorf("%s: not optional", g.Path)
		}
	}
	if _, ok := byPath["/mine"]; ok {
		t.Error("/mine: the profile's grant kept beside the user's")
	}
	if _, ok := byPath["/usr/share"]; ok {
		t.Error("/usr/share: the default profile's grant kept beside the user's")
	}
	if g := byPath["/shared"]; g.Rights != rights.Uniform(rights.ReadOnly|rights.Exec) {
		t.Errorf("/shared: %v, want the union ro,exec", g.Rights)
	}
	if g := byPath["/etc/passwd"]; g.Rights != rights.Uniform(rights.ReadOnly|rights.Exec|rights.MmapExec) {
		t.Errorf("/etc/passwd: %v, want the union of the default's ro and a's rx", g.Rights)
	}
	if _, ok := byPath[dir+"/other"]; ok {
		t.Error("pattern matched other")
	}
	i, j := slices.Index(order, dir+"/py3.11"), slices.Index(order, dir+"/py3.12")
	if i < 0 || j != i+1 {
		t.Errorf("pattern expansion: %q", order)
	}
	if slices.Index(order, "/lib") != 0 {
		t.Errorf("the default profile does not come first: %q", order)
	}
	if none, _ := Grants(false, nil, nil); len(none) != len(DefaultEntries) {
		t.Errorf("Grants(default) = %d grants, want %d", len(none), len(DefaultEntries))
	}
}

func TestDocs(t *testing.T) {
	const (
		name  = "../../docs/run.md"
		begin = "<!-- profiles: generated from broker/profile; do not edit -->\n"
		end   = "<!-- end profiles -->\n"
	)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q section", name, begin, end)
	}
	want := begin + "\n" + Markdown() + "\n" + end
	if got := doc[i : j+len(end)]; got != want {
		if *update {
			if err := os.WriteFile(name, []byte(doc[:i]+want+doc[j+len(end):]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the profiles section differs from broker/profile; run go test ./broker/profile -run TestDocs -update", name)
	}
}

func TestWriteHelp(t *testing.T) {
	var b strings.Builder
	WriteHelp(&b)
	for _, p := range allProfiles() {
		for _, e := range p.Entries {
			if !strings.Contains(b.String(), e.Path) {
				t.Errorf("help lacks %s %s", p.Name, e.Path)
			}
		}
		if !strings.Contains(b.String(), p.Name) {
			t.Errorf("help lacks profile %s", p.Name)
		}
	}
}
