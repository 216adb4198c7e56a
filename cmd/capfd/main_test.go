package main

import (
	"bytes"
	"encoding/json"
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

func TestCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		in   string // expected in stderr
	}{
		{nil, 2, "usage: capfd"},
		{[]string{"help"}, 0, "commands:"},
		{[]string{"no-such-verb"}, 2, `unknown command "no-such-verb"`},
		{[]string{"rights", "-bogus-flag"}, 2, "flag provided but not defined"},
		{[]string{"rights", "fly"}, 2, `unknown right "fly"`},
	} {
		code, _, stderr := runForTest(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.in) {
			t.Errorf("capfd %q: exit %d, stderr %q; want exit %d containing %q", tc.args, code, stderr, tc.code, tc.in)
		}
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
