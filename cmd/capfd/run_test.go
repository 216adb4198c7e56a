package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
)

func TestParseGrant(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in      string
		path    string
		rights  rights.Pair
		wantErr string
	}{
		{in: "/data=ro", path: "/data", rights: rights.Uniform(rights.ReadOnly)},
		{in: "rel/dir=rw", path: filepath.Join(wd, "rel/dir"), rights: rights.Uniform(rights.ReadWrite)},
		{in: "/a=b=read", path: "/a=b", rights: rights.Uniform(rights.Read)},
		{in: "/d=ro:rw", path: "/d", rights: rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadWrite}},
		{in: "/data", wantErr: "PATH=RIGHTS"},
		{in: "=ro", wantErr: "PATH=RIGHTS"},
		{in: "/data=bogus", wantErr: "bogus"},
		{in: "/data=ro:", wantErr: "inherit"},
		{in: "  /data  =  ro:rw ", path: "/data", rights: rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadWrite}},
		{in: "/data=none", path: "/data", rights: rights.Pair{}},
		{in: "/data=", wantErr: "no rights after '=': want PATH=RIGHTS[:INHERIT], e.g. /data=ro (/data=none grants it on purpose with no rights)"},
		{in: "/data =  ", wantErr: "no rights after '='"},
		{in: " =ro", wantErr: "PATH=RIGHTS"},
		{in: "/data=rwx", wantErr: `(did you mean "rw,rx"?)`},
	}
	for _, c := range cases {
		g, err := parseGrant(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("parseGrant(%q): err %v, want one mentioning %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || g.Path != c.path || g.Rights != c.rights {
			t.Errorf("parseGrant(%q) = %+v, %v; want %s %v", c.in, g, err, c.path, c.rights)
		}
	}
}

func TestParseRunArgs(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "grants.conf")
	if err := os.WriteFile(cfg, []byte("# comment\n\ndata=ro\n/abs=rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	opts, code := parseRunArgs([]string{"--config", cfg, "--grant", "/x=rx", "--no-default-profile", "--", "cat", "-n", "f"}, &stderr)
	if code >= 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var paths []string
	for _, g := range opts.grants {
		paths = append(paths, g.Path)
	}
	if got, want := strings.Join(paths, " "), filepath.Join(dir, "data")+" /abs /x"; got != want {
		t.Errorf("grants %q, want %q", got, want)
	}
	if !opts.noDefaultProfile || strings.Join(opts.argv, " ") != "cat -n f" {
		t.Errorf("opts %+v", opts)
	}
	if l := opts.launchOptions(&stderr); len(l.Profile) != 0 || len(l.Grants) != 3 {
		t.Errorf("launch options with no default profile: %d profile grants, %d grants", len(l.Profile), len(l.Grants))
	}

	for _, bad := range [][]string{{}, {"--grant", "nope", "--", "true"}, {"--config", filepath.Join(dir, "missing"), "--", "true"}} {
		stderr.Reset()
		if _, code := parseRunArgs(bad, &stderr); code != 2 {
			t.Errorf("parseRunArgs(%q): exit %d, want 2 (%s)", bad, code, stderr.String())
		}
	}
}

func FuzzParseGrant(f *testing.F) {
	for _, s := range []string{"/data=ro", "d=rw:ro", "=", "a=b=c", "/x=0x3", "/x=read,-read"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := parseGrant(s)
		if err != nil {
			return
		}
		if !filepath.IsAbs(g.Path) {
			t.Fatalf("parseGrant(%q): relative path %q", s, g.Path)
		}
		if g.Rights.Base.Unknown() != 0 || g.Rights.Inherit.Unknown() != 0 {
			t.Fatalf("parseGrant(%q): unknown rights %v", s, g.Rights)
		}
	})
}

func TestParseRunArgsProfiles(t *testing.T) {
	var stderr bytes.Buffer
	opts, code := parseRunArgs([]string{"--profile", "dev", "--profile", "posix-shm", "--grant", "/etc/passwd=none", "--", "true"}, &stderr)
	if code >= 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := strings.Join(opts.profiles, " "); got != "dev posix-shm" {
		t.Errorf("profiles %q", got)
	}
	l := opts.launchOptions(&stderr)
	paths := map[string]int{}
	for _, g := range l.Profile {
		paths[g.Path]++
	}
	// The default profile, both named ones, and not the path the user
	// grants himself: his grant decides alone.
	for _, want := range []string{"/usr/lib", "/usr/local/include", "/dev/shm"} {
		if paths[want] != 1 {
			t.Errorf("profile grants %s %d times, want once", want, paths[want])
		}
	}
	if paths["/etc/passwd"] != 0 || len(l.Grants) != 1 || l.Grants[0].Path != "/etc/passwd" || l.Grants[0].Rights != (rights.Pair{}) {
		t.Errorf("/etc/passwd: profile %d, user grants %+v", paths["/etc/passwd"], l.Grants)
	}

	// --no-default-profile keeps the named ones.
	opts, code = parseRunArgs([]string{"--no-default-profile", "--profile", "go", "--", "true"}, &stderr)
	if code >= 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if l := opts.launchOptions(&stderr); len(l.Profile) > 1 || (len(l.Profile) == 1 && l.Profile[0].Path != "/usr/local/go") {
		t.Errorf("--no-default-profile --profile go: %+v", l.Profile)
	}

	stderr.Reset()
	if _, code := parseRunArgs([]string{"--profile", "dev", "--profile", "rust", "--", "true"}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), `unknown profile "rust"`) || !strings.Contains(stderr.String(), "dev, python, node, go, git, posix-shm") {
		t.Errorf("unknown profile: exit %d, %q", code, stderr.String())
	}

	// --help lists every profile and its entries.
	stderr.Reset()
	if _, code := parseRunArgs([]string{"--help"}, &stderr); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	for _, want := range []string{"Default profile", "/etc/passwd", "posix-shm: ", "/dev/shm", "dev: ", "/usr/local/include", "-profile NAME"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestReadGrantFile: a grant file's "PATH = RIGHTS" lines lose the
// whitespace around the path and the rights, relative paths are the
// file's directory's, and a line with no rights is an error naming it.
func TestReadGrantFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       []string // path rights, of each grant
		wantErr    string
	}{
		{"spaced", "# comment\n  data = ro\n/abs\t=\trw:ro  \nsub dir/x = lookup\n", []string{
			filepath.Join(dir, "data") + " " + rights.ReadOnly.String(),
			"/abs " + rights.Pair{Base: rights.ReadWrite, Inherit: rights.ReadOnly}.String(),
			filepath.Join(dir, "sub dir/x") + " lookup",
		}, ""},
		{"empty rights", "data = ro\nout =\n", nil, "grants.conf:2: grant \"out =\": no rights after '='"},
		{"no path", " = ro\n", nil, "grants.conf:1: grant \"= ro\": want PATH=RIGHTS"},
		{"nothing", "# only a comment\n", nil, "no grants"},
	} {
		name := filepath.Join(dir, "grants.conf")
		if err := os.WriteFile(name, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		grants, err := readGrantFile(name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		var got []string
		for _, g := range grants {
			got = append(got, g.Path+" "+g.Rights.String())
		}
		if err != nil || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	// Through the command line: the same error, on one line, exit 2.
	name := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(name, []byte("/x =\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runForTest("run", "--config", name, "--", "true")
	if code != 2 || !strings.HasPrefix(stderr, "capfd run: config "+name+":1: grant \"/x =\": no rights after '='") || strings.Count(stderr, "\n") != 2 {
		t.Errorf("capfd run --config with an empty grant: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runForTest("run", "--grant", "/x=", "--", "true"); code != 2 || !strings.Contains(stderr, `invalid value "/x=" for flag -grant: grant "/x=": no rights after '='`) {
		t.Errorf("capfd run --grant /x=: exit %d, %q", code, stderr)
	}
}
