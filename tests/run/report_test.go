package run

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportScript probes a path outside every grant that exists (the secret)
// and two that exist nowhere, tries a write in the read-only grant, then
// exits with $1. Both probes outside the grants answer alike (the view
// hides which exists).
const reportScript = `test -e "$SECRET" && echo secret-visible || echo secret-absent
test -e "$MISSING" && echo missing-visible || echo missing-absent
test -e "$MISSING2" || true
(echo x > "$DATA/new.txt") 2>/dev/null || echo write-refused
exit $1`

func reportRun(t *testing.T, f fixture, status string, flags ...string) outcome {
	t.Helper()
	env := []string{"--env", "SECRET=" + f.secret + "/s.txt", "--env", "MISSING=" + f.root + "/nowhere",
		"--env", "MISSING2=" + f.root + "/nowhere2", "--env", "DATA=" + f.data}
	// The report of every refusal is the brokered mode's: in kernel mode
	// the kernel answers the probes (TestKernelModeReport).
	return capfdRun(t, f.data, append(append(append([]string{"--mode", "brokered"}, f.grants()...), env...), flags...), "sh", "-c", reportScript, "sh", status)
}

// By default a failure is followed by the refusals before it (the probe of
// a path that exists included, with its --grant), paths that exist nowhere
// only counted; a success shows only what was more than a probe. -v shows
// every refusal, missing paths too.
func TestReportShowsWhatAFailureFollowed(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	wantOut := "secret-absent\nmissing-absent\nwrite-refused\n"

	failed := reportRun(t, f, "3")
	if failed.code != 3 || failed.stdout != wantOut {
		t.Fatalf("failed run: status %d, stdout %q, want 3 and %q; stderr:\n%s", failed.code, failed.stdout, wantOut, failed.stderr)
	}
	wantContains(t, "failure report", failed.stderr, "capfd run: sh exited with status 3; the last refusals before it:\n")
	wantContains(t, "failure report", failed.stderr, "stat "+f.secret+"/s.txt (needs stat, outside every grant; --grant "+f.secret+"/s.txt=ro would allow it)")
	wantContains(t, "failure report", failed.stderr, "open "+f.data+"/new.txt (needs")
	wantContains(t, "failure report", failed.stderr, "more refused (2 of paths that do not exist)")
	if strings.Contains(failed.stderr, "nowhere") {
		t.Errorf("a path that exists nowhere was shown by default:\n%s", failed.stderr)
	}

	ok := reportRun(t, f, "0")
	if ok.code != 0 || ok.stdout != wantOut {
		t.Fatalf("successful run: status %d, stdout %q; stderr:\n%s", ok.code, ok.stdout, ok.stderr)
	}
	wantContains(t, "success report", ok.stderr, "requests refused; the last ones:\n")
	wantContains(t, "success report", ok.stderr, "open "+f.data+"/new.txt (needs")
	if strings.Contains(ok.stderr, "stat "+f.secret) {
		t.Errorf("a success showed a probe:\n%s", ok.stderr)
	}

	verbose := reportRun(t, f, "3", "-v")
	for _, want := range []string{"stat " + f.secret + "/s.txt", "stat " + f.root + "/nowhere", "stat " + f.root + "/nowhere2", "open " + f.data + "/new.txt"} {
		wantContains(t, "-v", verbose.stderr, want)
	}

	quiet := reportRun(t, f, "3", "-q")
	if strings.Contains(quiet.stderr, "capfd") {
		t.Errorf("-q printed: %q", quiet.stderr)
	}
}

// --log-format json prints every refusal as one JSON object per line and
// an exit object; --audit writes the same stream to a file, whatever
// stderr shows.
func TestReportJSON(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	audit := filepath.Join(t.TempDir(), "audit.json")
	out := reportRun(t, f, "3", "--log-format", "json", "--audit", audit)
	if out.code != 3 {
		t.Fatalf("status %d; stderr:\n%s", out.code, out.stderr)
	}
	fromFile, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(audit); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode: %v, %v", st, err)
	}
	for what, stream := range map[string]string{"stderr": out.stderr, "audit file": string(fromFile)} {
		events := decodeEvents(t, what, stream)
		byPath := map[string]map[string]any{}
		for _, e := range events[:len(events)-1] {
			if e["msg"] != "denied" || e["result"] != "denied" || e["kind"] != "not capable" {
				t.Errorf("%s: not a refusal: %v", what, e)
			}
			byPath[e["path"].(string)] = e
		}
		if e := byPath[f.secret+"/s.txt"]; e == nil || e["absent"] != false || e["probe"] != true || e["grant"] != f.secret+"/s.txt=ro" || e["op"] != "stat" {
			t.Errorf("%s: the secret's probe: %v", what, e)
		}
		if e := byPath[f.root+"/nowhere"]; e == nil || e["absent"] != true || e["outside"] != true {
			t.Errorf("%s: the missing path's probe: %v", what, e)
		}
		if e := byPath[f.data+"/new.txt"]; e == nil || e["probe"] != false || e["outside"] != false || !strings.Contains(e["missing"].(string), "write") {
			t.Errorf("%s: the write: %v", what, e)
		}
		last := events[len(events)-1]
		if last["msg"] != "exit" || last["status"] != float64(3) || last["refused"] != float64(len(events)-1) || last["refused_absent"] != float64(2) {
			t.Errorf("%s: exit event %v after %d refusals", what, last, len(events)-1)
		}
	}
}

// decodeEvents parses stream's JSON lines; every line must be one.
func decodeEvents(t *testing.T, what, stream string) []map[string]any {
	t.Helper()
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stream))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: not a JSON line: %q (%v)", what, sc.Text(), err)
		}
		events = append(events, e)
	}
	if len(events) < 2 {
		t.Fatalf("%s: %d events:\n%s", what, len(events), stream)
	}
	return events
}

// In kernel mode the kernel answers the probes, so a failure's report has
// only what the supervisor refused (the write) and says where the rest is.
func TestKernelModeReport(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	env := []string{"--env", "SECRET=" + f.secret + "/s.txt", "--env", "MISSING=" + f.root + "/nowhere",
		"--env", "MISSING2=" + f.root + "/nowhere2", "--env", "DATA=" + f.data}
	o := capfdRun(t, f.data, append(append([]string{"--mode", "kernel"}, f.grants()...), env...), "sh", "-c", reportScript, "sh", "3")
	if want := "secret-absent\nmissing-absent\nwrite-refused\n"; o.code != 3 || o.stdout != want {
		t.Fatalf("status %d, stdout %q, want 3 and %q; stderr:\n%s", o.code, o.stdout, want, o.stderr)
	}
	wantContains(t, "kernel-mode report", o.stderr, "not capable: open "+f.data+"/new.txt (needs write")
	wantContains(t, "kernel-mode report", o.stderr, "--mode brokered lists every refusal")
	if strings.Contains(o.stderr, f.secret) {
		t.Errorf("kernel-mode report names the secret, which the kernel answered: %s", o.stderr)
	}
}
