package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProcView: runtimes read their own /proc entries and a few
// system-wide files, which capfd run shows read-only (broker/notify's
// procview_linux.go); the links in it read but never re-open, and the
// rest of /proc is absent.
func TestProcView(t *testing.T) {
	requireRun(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, []byte("through the descriptor\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--grant", bin.dir + "=rx"}

	// What a runtime reads works as directly.
	for _, argv := range [][]string{
		{bin.ambient, "executable"},
		{"readlink", "/proc/self/exe"},
		{"sh", "-c", "head -c 9 /proc/meminfo; echo; grep -c ^Name /proc/self/status; test -r /proc/filesystems && echo readable"},
	} {
		direct := run(t, dir, argv...)
		confined := capfdRun(t, dir, flags, argv...)
		if direct.code != 0 || confined.code != 0 || confined.stdout != direct.stdout {
			t.Errorf("%v: confined %+v, direct %+v", argv, confined, direct)
		}
	}

	// Attacks through /proc work directly and fail confined: re-opening
	// a read-only descriptor for writing (the upgrade) and the executable
	// through their links, the host's mount table, another process.
	for _, script := range []string{
		`exec 3<` + file + `; echo more >> /proc/self/fd/3`,
		`exec 3<` + file + `; echo more >> /dev/fd/3`,
		`cat /proc/self/exe > /dev/null`,
		`cat /proc/self/mountinfo`,
		`cat /proc/1/status`,
		`echo x > /proc/self/comm`,
	} {
		if o := run(t, dir, "sh", "-c", script); o.code != 0 {
			t.Fatalf("%s: fails directly, so the test shows nothing: %+v", script, o)
		}
		if o := capfdRun(t, dir, flags, "sh", "-c", script); o.code == 0 {
			t.Errorf("%s under capfd run: worked (%q)", script, o.stdout)
		} else if !strings.Contains(o.stderr, "not capable") && !strings.Contains(o.stderr, "No such file") {
			t.Errorf("%s under capfd run: %+v", script, o)
		}
	}
}

// TestDescriptorNames: /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and
// /proc/self/fd/N re-open what the program already holds, as shells and
// scripts use them, with no more than the descriptor gives.
func TestDescriptorNames(t *testing.T) {
	requireRun(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, []byte("held\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `cat /dev/fd/3 3<` + file + `; cat /proc/self/fd/3 3<` + file +
		`; echo piped | cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr`
	argv := []string{"sh", "-c", script}
	if _, err := os.Stat("/bin/bash"); err == nil {
		argv = []string{"bash", "-c", script + `; cat <(echo substituted)`}
	}
	direct := run(t, dir, argv...)
	confined := capfdRun(t, dir, []string{"-q", "--grant", dir + "=ro"}, argv...)
	if direct.code != 0 || confined.code != 0 || confined.stdout != direct.stdout || confined.stderr != direct.stderr {
		t.Errorf("confined %+v\ndirect %+v", confined, direct)
	}
}
