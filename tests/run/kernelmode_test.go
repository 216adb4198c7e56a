package run

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// served is the supervisor's count of answered requests that -v prints.
var servedLine = regexp.MustCompile(`capfd run: (\d+) requests served`)

func servedCount(t *testing.T, o outcome) int {
	t.Helper()
	m := servedLine.FindStringSubmatch(o.stderr)
	if m == nil {
		t.Fatalf("no served count in %q", o.stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestKernelModeAnswersNatively: in kernel mode the kernel answers stat,
// readlink and read-only opens in the program's view, so a loop of them
// costs the supervisor nothing; the brokered mode answers every one. The
// answers are the same in both modes and directly.
func TestKernelModeAnswersNatively(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	const n = 200
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); test -e hello.txt; test -e %s/s.txt && echo leaked; done; cat hello.txt; readlink out-abs; stat -c %%s hello.txt`, n, f.secret)
	direct := run(t, f.data, "sh", "-c", script)
	counts := map[string]int{}
	for _, mode := range []string{"brokered", "kernel"} {
		o := capfdRun(t, f.data, append([]string{"-v", "--mode", mode}, f.grants()...), "sh", "-c", script)
		if o.code != 0 || !strings.HasPrefix(direct.stdout, "leaked") && o.stdout != strings.ReplaceAll(direct.stdout, "leaked\n", "") {
			t.Errorf("%s mode: %+v; direct %+v", mode, o, direct)
		}
		if strings.Contains(o.stdout, "leaked") {
			t.Errorf("%s mode: the secret is visible", mode)
		}
		counts[mode] = servedCount(t, o)
	}
	if !strings.Contains(direct.stdout, "leaked") {
		t.Fatalf("directly, the secret is not visible, so the test shows nothing: %+v", direct)
	}
	// test -e is a stat (dash: stat64), 2n of them.
	if counts["brokered"] < 2*n || counts["kernel"] > n/4 {
		t.Errorf("served requests: brokered %d (want >= %d), kernel %d (want <= %d)", counts["brokered"], 2*n, counts["kernel"], n/4)
	}
}

// TestKernelModeChoice: kernel mode is chosen where the grants allow it,
// and --mode kernel fails, saying why, where they do not; -v says which
// syscalls the kernel answers and why the others are brokered.
func TestKernelModeChoice(t *testing.T) {
	requireRun(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		grant, mode string
		code        int
		want        string
	}{
		{dir + "=ro", "auto", 0, "kernel mode: the kernel answers read-only and O_PATH opens, chdir, access(F_OK), stat, readlink in the program's view"},
		{dir + "=read,lookup,readdir", "auto", 0, "kernel mode: stat is brokered: grant " + dir + " lacks stat"},
		// Without lookup the supervisor refuses the open, as it must.
		{dir + "=read,stat,readlink,readdir", "auto", 1, "brokered mode: grant " + dir + " lacks lookup"},
		{dir + "=read,stat,readlink,readdir", "kernel", 126, "kernel mode: grant " + dir + " lacks lookup, which the kernel cannot refuse"},
		// Landlock cannot tell a directory's readdir from its entries'.
		{dir + "=ro:lookup,read,stat", "auto", 0, "brokered mode: read-only opens cannot be the kernel's: grant " + dir + " gives readdir to the directory or to what is beneath it but not both"},
		{dir + "=ro", "brokered", 0, ""},
	}
	for _, c := range cases {
		o := capfdRun(t, dir, []string{"-v", "--mode", c.mode, "--grant", c.grant}, "cat", filepath.Join(dir, "f"))
		if o.code != c.code || c.code == 0 && o.stdout != "x\n" {
			t.Errorf("--grant %s --mode %s: %+v, want status %d", c.grant, c.mode, o, c.code)
		}
		if c.want != "" {
			wantContains(t, "--grant "+c.grant+" --mode "+c.mode, o.stderr, c.want)
		} else if strings.Contains(o.stderr, "kernel mode") {
			t.Errorf("--mode brokered: %q", o.stderr)
		}
	}
}

// TestKernelModeHostDirectoryDescriptor: a standard descriptor open on a
// host directory would be a way out of the view for native lookups (cd
// /proc/self/fd/0, then relative names), so it makes the run brokered, and
// --mode kernel refuses to start.
func TestKernelModeHostDirectoryDescriptor(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	const attack = `cd /proc/self/fd/0 && cat secret/s.txt`
	withDirStdin := func(argv ...string) outcome {
		t.Helper()
		dir, err := os.Open(f.root)
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Stdin = f.data, dir
		return runCmd(t, cmd)
	}
	if o := withDirStdin("sh", "-c", attack); o.stdout != "secret\n" {
		t.Fatalf("directly the attack fails, so the test shows nothing: %+v", o)
	}
	capfd := append([]string{bin.capfd, "run", "-v"}, f.grants()...)
	o := withDirStdin(append(capfd, "--", "sh", "-c", attack)...)
	if strings.Contains(o.stdout, "secret") || !strings.Contains(o.stderr, "brokered mode: standard descriptor 0 is a directory") {
		t.Errorf("auto mode: %+v", o)
	}
	capfd = append([]string{bin.capfd, "run", "--mode", "kernel"}, f.grants()...)
	if o := withDirStdin(append(capfd, "--", "sh", "-c", attack)...); o.code != 126 || strings.Contains(o.stdout, "secret") {
		t.Errorf("--mode kernel: %+v, want status 126", o)
	}
}
