package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/vfsops"
)

func runForTest(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runCLI(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCLIUsage: help goes to stdout with exit 0 when asked for; misuse is
// a one-line error on stderr, with where to read more, and exit 2.
func TestCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // expected in stdout ("" : stdout empty)
		stderr string // stderr exactly ("*" : anything non-empty)
	}{
		{nil, 2, "", "*"},
		{[]string{"--help"}, 0, "commands:", ""},
		{[]string{"-h"}, 0, "commands:", ""},
		{[]string{"help"}, 0, "exit status:", ""},
		{[]string{"help", "run"}, 0, "usage: capfd run [flags] -- PROG [ARGS...]", ""},
		{[]string{"run", "--help"}, 0, "  --grant PATH=RIGHTS[:INHERIT]\n", ""},
		{[]string{"run", "-h"}, 0, "  --no-default-profile\n", ""},
		{[]string{"help", "nope"}, 2, "", "capfd help: unknown command \"nope\"\nsee 'capfd help --help'\n"},
		{[]string{"no-such-verb"}, 2, "", "capfd: unknown command \"no-such-verb\"\nsee 'capfd --help'\n"},
		{[]string{"rights", "-bogus-flag"}, 2, "", "capfd rights: flag provided but not defined: -bogus-flag\nsee 'capfd rights --help'\n"},
		{[]string{"rights", "--bogus-flag"}, 2, "", "capfd rights: flag provided but not defined: -bogus-flag\nsee 'capfd rights --help'\n"},
		{[]string{"run", "--grant"}, 2, "", "capfd run: flag needs an argument: -grant\nsee 'capfd run --help'\n"},
		{[]string{"run", "--grant", "/x=ro"}, 2, "", "capfd run: no program given (capfd run [flags] -- PROG [ARGS...])\nsee 'capfd run --help'\n"},
		{[]string{"rights", "fly"}, 2, "", "capfd rights: parse rights \"fly\": unknown right \"fly\"\nsee 'capfd rights --help'\n"},
		{[]string{"rights", "a", "b"}, 2, "", "*"},
		{[]string{"broker"}, 2, "", "capfd broker: --config (or --check-config) is required\nsee 'capfd broker --help'\n"},
		{[]string{"check", "extra"}, 2, "", "capfd check: takes no arguments\nsee 'capfd check --help'\n"},
		{[]string{"completion", "tcsh"}, 2, "", "capfd completion: unknown shell \"tcsh\": want bash, zsh or fish\nsee 'capfd completion --help'\n"},
	} {
		code, stdout, stderr := runForTest(tc.args...)
		okOut := tc.stdout == "" && stdout == "" || tc.stdout != "" && strings.Contains(stdout, tc.stdout)
		okErr := tc.stderr == "*" && stderr != "" || tc.stderr != "*" && stderr == tc.stderr
		if code != tc.code || !okOut || !okErr {
			t.Errorf("capfd %q: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout containing %q, stderr %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
}

// TestEveryVerbsHelp: for every verb, `capfd help VERB`, `capfd VERB
// --help` and `capfd VERB -h` print the same help on stdout, which spells
// every flag as the docs do (--name; -x for a one-letter one), and every
// flag is accepted with one dash or two.
func TestEveryVerbsHelp(t *testing.T) {
	for _, verb := range verbNames() {
		code, help, stderr := runForTest("help", verb)
		if code != 0 || stderr != "" || !strings.HasPrefix(help, "usage: capfd "+verb) {
			t.Errorf("capfd help %s: exit %d, stderr %q\n%s", verb, code, stderr, help)
			continue
		}
		for _, ask := range []string{"--help", "-h", "-help"} {
			if code, out, _ := runForTest(verb, ask); code != 0 || out != help {
				t.Errorf("capfd %s %s: exit %d, and not what capfd help %s prints:\n%s", verb, ask, code, verb, out)
			}
		}
		verbFlags(verb).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(help, "\n  "+flagName(f)+" ") && !strings.Contains(help, "\n  "+flagName(f)+"\n") {
				t.Errorf("capfd help %s does not show %s", verb, flagName(f))
			}
			if len(f.Name) > 1 && (strings.Contains(help, "\n  -"+f.Name+" ") || strings.Contains(help, "\n  -"+f.Name+"\n")) {
				t.Errorf("capfd help %s shows -%s with one dash", verb, f.Name)
			}
			for _, dashes := range []string{"-", "--"} {
				fs := verbFlags(verb)
				args := []string{dashes + f.Name}
				if takesArg(f) {
					args = append(args, f.DefValue)
				}
				if err := fs.Parse(args); err != nil && !strings.Contains(err.Error(), "invalid value") {
					t.Errorf("capfd %s %s: %v", verb, strings.Join(args, " "), err)
				}
			}
		})
	}
}

// TestTopLevelHelpDocumentsExitCodes: the exit codes the verbs share are
// in capfd --help, with the values the code uses.
func TestTopLevelHelpDocumentsExitCodes(t *testing.T) {
	_, out, _ := runForTest("--help")
	for _, want := range []string{
		"  1  an I/O or other error",
		"  2  usage",
		"  3  refused by policy: not capable",
		"  4  refused: the path escapes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("capfd --help does not say %q", want)
		}
	}
	if exitFailure != 1 || exitUsage != 2 || exitNotCapable != 3 || exitEscape != 4 {
		t.Error("the exit codes changed: update exitCodesHelp and the docs")
	}
}

func TestRightsVerb(t *testing.T) {
	code, out, _ := runForTest("rights")
	if code != 0 || !strings.Contains(out, " 0  lookup") || !strings.Contains(out, "27  mount") {
		t.Fatalf("capfd rights: exit %d\n%s", code, out)
	}
	// statx-style: an unknown bit is answered, not dropped, and exits 1.
	code, out, _ = runForTest("rights", "-json", "read,0x40000000")
	if code != 0 {
		t.Fatalf("capfd rights -json: exit %d", code)
	}
	var answer struct{ Requested, Supported, Unknown string }
	if err := json.Unmarshal([]byte(out), &answer); err != nil {
		t.Fatal(err, out)
	}
	if answer.Supported != "read" || answer.Unknown != "0x40000000" {
		t.Errorf("answer = %+v", answer)
	}
	if code, out, _ := runForTest("rights", "read,0x40000000"); code != 1 || !strings.Contains(out, "unknown:   0x40000000") {
		t.Errorf("text answer: exit %d\n%s", code, out)
	}
}

// TestRightsVerbPairsAndSuggestions: capfd rights takes the BASE:INHERIT
// form a grant takes, and answers a misspelled right with its spelling.
func TestRightsVerbPairsAndSuggestions(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{[]string{"rights", "rw:ro"}, 0, []string{"base (the directory itself):\n  requested: lookup,read,write", "inherit (the ceiling for everything opened beneath it):\n  requested: lookup,read,seek,stat,readlink,readdir,xattr-get,lock\n"}, ""},
		{[]string{"rights", "--json", "lookup:ro"}, 0, []string{`"base": {`, `"requested": "lookup"`, `"inherit": {`}, ""},
		{[]string{"rights", "ro:0x40000000"}, 1, []string{"  unknown:   0x40000000"}, ""},
		{[]string{"rights", "ro:"}, 2, nil, "inherit: empty after ':'"},
		{[]string{"rights", "rwx"}, 2, nil, `unknown right "rwx" (did you mean "rw,rx"?)`},
		{[]string{"rights", "rox"}, 2, nil, `unknown right "rox" (did you mean "rx"?)`},
		{[]string{"rights", "rw:rox"}, 2, nil, `inherit: parse rights "rox": unknown right "rox" (did you mean "rx"?)`},
	} {
		code, stdout, stderr := runForTest(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("capfd %q: exit %d, stderr %q; want exit %d, stderr containing %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
		for _, want := range tc.stdout {
			if !strings.Contains(stdout, want) {
				t.Errorf("capfd %q: stdout lacks %q:\n%s", tc.args, want, stdout)
			}
		}
	}
}

// TestCheckAgreesWithProbes: `capfd check` must report what the packages
// find, feature by feature, not a summary of its own.
func TestCheckAgreesWithProbes(t *testing.T) {
	code, out, stderr := runForTest("check", "-json")
	var report struct {
		Features       []feature        `json:"features"`
		CapabilityMode []capmode.Status `json:"capability_mode"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("check -json (exit %d): %v\n%s%s", code, err, out, stderr)
	}
	features := report.Features
	abi, _ := landlock.Probe()
	want := capmode.Enforcement(capmode.Kernel{LandlockABI: abi, Seccomp: seccomp.Probe() == nil, BPFLSM: lsm.Probe() == nil})
	if !reflect.DeepEqual(report.CapabilityMode, want) {
		t.Errorf("capability mode reported %+v, want %+v", report.CapabilityMode, want)
	}
	got := map[string]feature{}
	for _, f := range features {
		if f.Detail == "" || f.Role == "" {
			t.Errorf("%s: empty detail or role", f.Name)
		}
		got[f.Name] = f
	}
	for _, name := range []string{"openat2", "procfs", "landlock", "seccomp", "bpf-lsm"} {
		if _, ok := got[name]; !ok {
			t.Errorf("check does not report %s", name)
		}
	}
	if want := vfsops.ProbeOpenat2() == nil; got["openat2"].OK != want {
		t.Errorf("openat2 reported %v, probe says %v", got["openat2"].OK, want)
	}
	if _, err := landlock.Probe(); got["landlock"].OK != (err == nil) {
		t.Errorf("landlock reported %v, probe error %v", got["landlock"].OK, err)
	}
	if !got["bpf-lsm"].OK && !strings.Contains(got["bpf-lsm"].Detail, "BPF LSM") {
		t.Errorf("bpf-lsm refusal does not say why: %q", got["bpf-lsm"].Detail)
	}
}
