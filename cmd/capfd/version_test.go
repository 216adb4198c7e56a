package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionText: what capfd version says of a build, from its build
// information.
func TestVersionText(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"},
			Settings: setting("GOOS", "linux", "GOARCH", "amd64", "vcs.revision", "0123abcd", "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "false")},
			"capfd v1.2.3\nrevision: 0123abcd\ncommitted: 2026-01-02T03:04:05Z\ngo: go1.26.0 linux/amd64\n"},
		{"work tree with changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: setting("GOOS", "linux", "GOARCH", "arm64", "vcs.revision", "feedf00d", "vcs.modified", "true")},
			"capfd (devel)\nrevision: feedf00d (modified)\ngo: go1.26.0 linux/arm64\n"},
		{"no vcs stamp", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: setting("GOOS", "linux", "GOARCH", "amd64")},
			"capfd (devel)\nrevision: unknown (built without VCS stamping: -buildvcs=false, or not from a checkout)\ngo: go1.26.0 linux/amd64\n"},
		{"no build info", nil, "capfd: no build information (not built by the go command in module mode)\ngo: " + runtime.Version() + "\n"},
	} {
		if got := versionText(tc.bi, tc.bi != nil); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// TestVersionVerb: capfd version and capfd --version say the same, from
// this binary's own build information.
func TestVersionVerb(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	want := versionText(bi, ok)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		if code, out, stderr := runForTest(args...); code != 0 || out != want || stderr != "" {
			t.Errorf("capfd %q: exit %d, stdout %q, stderr %q; want %q", args, code, out, stderr, want)
		}
	}
	if code, _, stderr := runForTest("version", "x"); code != 2 || !strings.Contains(stderr, "takes no arguments") {
		t.Errorf("capfd version x: exit %d, %q", code, stderr)
	}
}

// TestVersionOfABuiltBinary builds capfd from this checkout with VCS
// stamping and checks that capfd --version names the checkout's commit.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds capfd")
	}
	gitOut, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout, or no git: %v", err)
	}
	head := strings.TrimSpace(string(gitOut))
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		// The go command stamps a build only where .git is a directory,
		// not in a linked work tree (git worktree), whose .git is a file.
		t.Skip("a linked git work tree: the go command does not stamp builds here")
	}
	bin := filepath.Join(t.TempDir(), "capfd")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "capfd ") || !strings.Contains(string(out), "\nrevision: "+head) || !strings.Contains(string(out), "\ncommitted: ") {
		t.Errorf("capfd --version of a build at %s:\n%s", head, out)
	}
}
