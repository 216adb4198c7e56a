package run

import (
	"fmt"
	"os"
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
		{dir + "=ro", "auto", 0, "kernel mode: the kernel answers O_PATH opens, chdir, access(F_OK), stat, readlink, read-only opens"},
		{dir + "=read,lookup,readdir", "auto", 0, "kernel mode: stat is brokered: grant " + dir + " lacks stat"},
		// Without lookup the supervisor refuses the open, as it must.
		{dir + "=read,stat,readlink,readdir", "auto", 1, "brokered mode: grant " + dir + " lacks lookup"},
		{dir + "=read,stat,readlink,readdir", "kernel", 126, "kernel mode: grant " + dir + " lacks lookup, which the kernel cannot refuse"},
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
