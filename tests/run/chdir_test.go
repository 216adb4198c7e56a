package run

import (
	"strings"
	"testing"
)

// TestChdirRevealsNothing: chdir's answer must not tell whether a
// directory outside every grant exists. Plainly, cd into the existing
// secret/ works and into a missing directory fails with "No such file";
// under capfd run both fail alike. Positive controls: cd into a grant (and
// a relative read there), and into a directory above a grant, whose
// existence the grant already implies.
func TestChdirRevealsNothing(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	script := "cd {S} 2>&1 | sed 's|{S}|X|'; cd {S} && echo in-secret; cd {M} 2>&1 | sed 's|{M}|X|'"
	script = strings.NewReplacer("{S}", f.secret, "{M}", f.root+"/missing").Replace(script)
	plain := run(t, f.root, "sh", "-c", script)
	if !strings.Contains(plain.stdout, "in-secret") {
		t.Fatalf("plainly cd into secret/ failed: the test shows nothing: %+v", plain)
	}
	o := capfdRun(t, f.root, append(f.grants(), "-q"), "sh", "-c", script)
	lines := strings.Split(strings.TrimSpace(o.stdout), "\n")
	if strings.Contains(o.stdout, "in-secret") || len(lines) != 2 || lines[0] != lines[1] {
		t.Errorf("under capfd run the answers differ (or cd succeeded): %q", o.stdout)
	}
	o = capfdRun(t, f.root, f.grants(), "sh", "-c", "cd "+f.data+" && cat hello.txt && cd "+f.root+" && cd data/sub && cat inner.txt")
	if o.code != 0 || o.stdout != "hello\ninner\n" {
		t.Errorf("cd into a grant and above one: %+v", o)
	}
}
