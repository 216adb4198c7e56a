package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

// dynamicTrue is true(1) and its ELF interpreter; the test is skipped
// where true is static.
func dynamicTrue(t *testing.T) (prog, interp string) {
	t.Helper()
	prog, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	if prog, err = filepath.EvalSymlinks(prog); err != nil {
		t.Fatal(err)
	}
	interp = elfInterpreter(prog)
	if interp == "" {
		t.Skipf("%s has no ELF interpreter", prog)
	}
	return prog, interp
}

func TestElfInterpreter(t *testing.T) {
	prog, interp := dynamicTrue(t)
	if !filepath.IsAbs(interp) || strings.ContainsRune(interp, 0) {
		t.Errorf("elfInterpreter(%s) = %q", prog, interp)
	}
	if _, err := os.Stat(interp); err != nil {
		t.Errorf("the interpreter of %s: %v", prog, err)
	}
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{script, filepath.Join(t.TempDir(), "missing")} {
		if got := elfInterpreter(p); got != "" {
			t.Errorf("elfInterpreter(%s) = %q, want none", p, got)
		}
	}
}

// TestInterpreterHint: the hint is given exactly when the interpreter's
// grant lacks exec, and names the interpreter and a grant that allows it.
func TestInterpreterHint(t *testing.T) {
	prog, interp := dynamicTrue(t)
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		granted rights.Rights
		covered bool
		hint    bool
	}{
		{"exec granted", rights.ReadExec, true, false},
		{"read only", rights.ReadOnly, true, true},
		{"not granted", 0, false, true},
	} {
		var asked string
		hint := interpreterHint(prog, func(abs string) (rights.Rights, bool) { asked = abs; return tc.granted, tc.covered })
		if asked != real {
			t.Errorf("%s: the grants were asked about %q, want the interpreter itself, %q", tc.name, asked, real)
		}
		if !tc.hint {
			if hint != "" {
				t.Errorf("%s: hint %q, want none", tc.name, hint)
			}
			continue
		}
		for _, want := range []string{"ELF interpreter " + interp, "not granted exec", "--grant " + filepath.Dir(real) + "=rx"} {
			if !strings.Contains(hint, want) {
				t.Errorf("%s: hint %q lacks %q", tc.name, hint, want)
			}
		}
	}
}

// TestRunNamesTheUngrantedInterpreter: a dynamically linked program whose
// ELF interpreter is not granted exec fails with 127, and the error names
// the interpreter and the grant that would allow it; granted, it runs.
func TestRunNamesTheUngrantedInterpreter(t *testing.T) {
	prog, interp := dynamicTrue(t)
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		t.Fatal(err)
	}
	c := newConfined(t)
	opts := c.options("")
	opts.Argv = []string{prog}
	opts.Profile = nil
	opts.Grants = []notify.Grant{{Path: filepath.Dir(prog), Rights: rights.Uniform(rights.ReadExec)}}
	status, err := Run(opts)
	stderr := c.output(c.stderr)
	if status != 127 {
		t.Fatalf("status %d, %v; want 127\nstderr: %s", status, err, stderr)
	}
	// Landlock's EACCES in the brokered mode; in kernel mode the
	// interpreter's name does not exist in the view.
	want := ": " + filepath.Base(prog) + " needs its ELF interpreter " + interp
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "--grant "+filepath.Dir(real)+"=rx") {
		t.Errorf("stderr %q\nwant it to contain %q and the grant", stderr, want)
	}

	// With the loader's directory granted rx the program runs: the hint
	// named what was missing.
	c = newConfined(t)
	opts = c.options("")
	opts.Argv = []string{prog}
	opts.Profile = nil
	opts.Grants = []notify.Grant{
		{Path: filepath.Dir(prog), Rights: rights.Uniform(rights.ReadExec)},
		{Path: filepath.Dir(real), Rights: rights.Uniform(rights.ReadExec)},
	}
	if status, err := Run(opts); status != 0 || err != nil {
		t.Errorf("with %s granted rx: status %d, %v\nstderr: %s", filepath.Dir(real), status, err, c.output(c.stderr))
	}
}
