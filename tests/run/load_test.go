package run

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stressDir makes n files f0..f<n-1>, file fK holding K+1 bytes of the byte
// K%251 (what testdata/openstress checks), in a directory of their own.
func stressDir(t *testing.T, n int) string {
	t.Helper()
	dir := mkdir(t, filepath.Join(t.TempDir(), "files"))
	for k := range n {
		content := bytes.Repeat([]byte{byte(k % 251)}, k+1)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", k)), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOpenUnderLoad is the regression test for a supervisor reply lost to a
// signal: with ADDFD|FLAG_SEND an interrupted install left the program's
// open returning 0 (tar wrote its data to stdin, Go programs read
// /dev/null). Many threads open files at once and check every descriptor
// against the file they named: inode and size for the C program, length
// and content for the Go one (which reads through the runtime's netpoller,
// and whose 16 goroutines keep the supervisor's threads busy). Each run must
// have no mismatch at all. Before the fix, the Go reader saw tens of
// thousands of mismatches in one run and the C program one or two in most
// runs.
func TestOpenUnderLoad(t *testing.T) {
	requireRun(t)
	dir := stressDir(t, 64)
	flags := []string{"-q", "--grant", dir + "=ro", "--grant", bin.dir + "=rx"}
	t.Run("go readers", func(t *testing.T) {
		for run := range 2 {
			o := capfdRun(t, dir, flags, bin.openstress, dir, "16", "100")
			if o.code != 0 || !strings.Contains(o.stdout, "reads 102400 mismatches 0") {
				t.Fatalf("run %d: exit %d\nstdout: %s\nstderr: %s", run, o.code, o.stdout, firstLines(o.stderr, 10))
			}
		}
	})
	t.Run("200 C threads", func(t *testing.T) {
		if bin.cstress == "" {
			t.Skip("no C compiler to build testdata/cstress (scripts/setup.sh installs gcc)")
		}
		for run := range 4 {
			o := capfdRun(t, dir, flags, bin.cstress, dir, "64", "200", "500")
			if o.code != 0 || !strings.Contains(o.stdout, "opens 100000 mismatches 0 failures 0") {
				t.Fatalf("run %d: exit %d\nstdout: %s\nstderr: %s", run, o.code, o.stdout, firstLines(o.stderr, 10))
			}
		}
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
