package run

import (
	"os"
	"os/exec"
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

	// What a runtime reads works as directly, in both modes.
	for _, mode := range []string{"brokered", "kernel"} {
		for _, argv := range [][]string{
			{bin.ambient, "executable"},
			{"readlink", "/proc/self/exe"},
			{"sh", "-c", "head -c 9 /proc/meminfo; echo; grep -c ^Name /proc/self/status; test -r /proc/filesystems && echo readable"},
		} {
			direct := run(t, dir, argv...)
			confined := capfdRun(t, dir, append([]string{"--mode", mode}, flags...), argv...)
			if direct.code != 0 || confined.code != 0 || confined.stdout != direct.stdout {
				t.Errorf("%s mode: %v: confined %+v, direct %+v", mode, argv, confined, direct)
			}
		}
	}

	// Attacks through /proc work directly and fail confined: re-opening
	// a read-only descriptor for writing (the upgrade) and the executable
	// through their links, the host's mount table, another process. In
	// kernel mode /proc is the PID namespace's own (vfsops.BuildView), so
	// what is the program's own there reads (kernelReads) and the rest is
	// still refused.
	for _, a := range []struct {
		script string
		// kernelReads: in kernel mode the script works, and its output
		// must not contain the host's own (notHost).
		kernelReads bool
		notHost     string
	}{
		{script: `exec 3<` + file + `; echo more >> /proc/self/fd/3`},
		{script: `exec 3<` + file + `; echo more >> /dev/fd/3`},
		{script: `cat /proc/self/exe > /dev/null`, kernelReads: true},
		{script: `cat /proc/self/mountinfo`, kernelReads: true, notHost: hostMount(t)},
		{script: `cat /proc/1/status`, kernelReads: true, notHost: hostInit(t)},
		{script: `echo x > /proc/self/comm`},
		{script: `cat /proc/kallsyms | grep -q .`}, // masked by an empty file in kernel mode
		{script: `cat /proc/sys/kernel/hostname`},
	} {
		if o := run(t, dir, "sh", "-c", a.script); o.code != 0 {
			t.Fatalf("%s: fails directly, so the test shows nothing: %+v", a.script, o)
		}
		for _, mode := range []string{"brokered", "kernel"} {
			o := capfdRun(t, dir, append([]string{"--mode", mode}, flags...), "sh", "-c", a.script)
			switch {
			case mode == "kernel" && a.kernelReads:
				if o.code != 0 || a.notHost != "" && strings.Contains(o.stdout, a.notHost) {
					t.Errorf("%s in kernel mode: want the namespace's own, got %+v (host's: %q)", a.script, o, a.notHost)
				}
			case o.code == 0:
				t.Errorf("%s under capfd run --mode %s: worked (%q)", a.script, mode, o.stdout)
			case mode == "brokered" && !strings.Contains(o.stderr, "not capable") && !strings.Contains(o.stderr, "No such file"):
				t.Errorf("%s under capfd run --mode %s: %+v", a.script, mode, o)
			}
		}
	}
}

// hostMount is a mount point of the host's mount table that no view has.
func hostMount(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == "/sys" || f[4] == "/dev" || f[4] == "/run") {
			return " " + f[4] + " "
		}
	}
	t.Skip("the host's mount table has none of /sys, /dev, /run to look for")
	return ""
}

// hostInit is the host's process 1's status "Name:" line.
func hostInit(t *testing.T) string {
	b, err := os.ReadFile("/proc/1/status")
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(string(b), "\n")
	return name + "\n"
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

// TestStdinFromOutsideTheGrants: `prog /dev/stdin < file` re-opens, read
// only, a file the program holds but no grant names; in kernel mode that
// takes a Landlock rule for the descriptor's file (stdioGrants), since the
// file is outside the view. Re-opening it for writing stays refused, and
// the file's own name stays absent.
func TestStdinFromOutsideTheGrants(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	input := filepath.Join(f.secret, "s.txt")
	withStdinFrom := func(input string, argv ...string) outcome {
		t.Helper()
		in, err := os.Open(input)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Stdin = f.data, in
		return runCmd(t, cmd)
	}
	withStdin := func(argv ...string) outcome { t.Helper(); return withStdinFrom(input, argv...) }
	const attack = `echo pwned > /dev/stdin`
	// The attack works directly (on a copy).
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if withStdinFrom(victim, "sh", "-c", attack); !strings.Contains(readString(t, victim), "pwned") {
		t.Fatalf("%s does not work even directly", attack)
	}
	if o := withStdin("sh", "-c", "cat /dev/stdin"); o.stdout != "secret\n" {
		t.Fatalf("directly: %+v", o)
	}
	for _, mode := range []string{"brokered", "kernel"} {
		capfd := append([]string{bin.capfd, "run", "-q", "--mode", mode}, f.grants()...)
		if o := withStdin(append(capfd, "--", "sh", "-c", "cat /dev/stdin")...); o.code != 0 || o.stdout != "secret\n" {
			t.Errorf("%s mode: cat /dev/stdin: %+v", mode, o)
		}
		if o := withStdin(append(capfd, "--", "sh", "-c", "cat "+input)...); o.code == 0 || strings.Contains(o.stdout, "secret") {
			t.Errorf("%s mode: the file's own name: %+v", mode, o)
		}
		if o := withStdin(append(capfd, "--", "sh", "-c", attack)...); o.code == 0 {
			t.Errorf("%s mode: %s worked", mode, attack)
		}
		if b, err := os.ReadFile(input); err != nil || string(b) != "secret\n" {
			t.Fatalf("%s mode: %s now holds %q, %v", mode, input, b, err)
		}
	}
}

func readString(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
