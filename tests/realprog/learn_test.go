package realprog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLearnRoundTrip: each workload runs under capfd run --learn
// --learn-allow with no grant of its own (not even its work directory),
// then again with only the learned file (--config) in a fresh work
// directory at the same path. Both runs must do what the direct run did,
// and the second must refuse nothing that exists (a probe of a path that
// exists nowhere is answered as directly, and is not a grant's business).
func TestLearnRoundTrip(t *testing.T) {
	requireRun(t)
	for _, w := range matrix {
		t.Run(strings.ReplaceAll(w.name, " ", "_"), func(t *testing.T) {
			if why := w.skipReason(); why != "" {
				t.Skip(why)
			}
			// Somewhere capfd, perhaps as uid 65534, can write.
			out := t.TempDir()
			if err := os.Chmod(out, 0o777); err != nil {
				t.Fatal(err)
			}
			learned, audit := filepath.Join(out, "learned.grants"), filepath.Join(out, "audit.json")
			// Both runs brokered: learning sees every request only so, and
			// the audit of the second run must see every refusal.
			diffs := compareRuns(t, w, false,
				func(string) []string { return capfdArgv(w, "--learn", learned, "--learn-allow") },
				func(string) []string {
					return capfdArgv(w, "--mode", "brokered", "--config", learned, "--audit", audit)
				},
			)
			grants, err := os.ReadFile(learned)
			if err != nil {
				t.Fatalf("no learned grants: %v", err)
			}
			if len(diffs[0]) > 0 {
				t.Errorf("the learning run differs from a direct run:\n%s", strings.Join(diffs[0], "\n"))
			}
			if len(diffs[1]) > 0 {
				t.Errorf("the run with the learned grants differs from a direct run:\n%s\nlearned:\n%s", strings.Join(diffs[1], "\n"), grants)
			}
			if refused := refusedPresent(t, audit); len(refused) > 0 {
				t.Errorf("the run with the learned grants refused:\n%v\nlearned:\n%s", refused, grants)
			}
		})
	}
}

// refusedPresent are the refusals in an --audit stream of paths that
// exist.
func refusedPresent(t *testing.T, audit string) []map[string]any {
	t.Helper()
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sawExit := false
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit: %q: %v", sc.Text(), err)
		}
		switch {
		case e["msg"] == "exit":
			sawExit = true
		case strings.HasPrefix(e["path"].(string), "/proc/"):
			// The /proc view is fixed; procfs cannot be granted.
		case e["absent"] != true:
			out = append(out, e)
		}
	}
	if !sawExit {
		t.Error("audit: no exit event")
	}
	return out
}
