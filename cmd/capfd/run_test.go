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
