package differential

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

// backends are the layers under test. The BPF LSM is unavailable on the
// host, which refuses its programs; TestDifferentialBPFInVM runs it in the
// VM guests (bpf_vm_test.go).
func backends() []Backend {
	return []Backend{local{}, brokerBackend{}, runBackend{}, kernelRunBackend{}, landlockBackend{}, bpfBackend{}}
}

// TestDifferential runs the whole matrix through each layer and compares
// every answer and effect with the model.
func TestDifferential(t *testing.T) {
	gaps, err := loadGaps(gapDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends() {
		t.Run(b.Name(), func(t *testing.T) {
			if err := b.Available(); err != nil {
				// The guests' kernels are chosen for BPF LSM: there, its
				// absence is a bug, not a reason to skip.
				if vmtest.InVM() && b.Name() == (bpfBackend{}).Name() {
					t.Fatalf("%s must run in the vmtest guest: %v", b.Name(), err)
				}
				t.Skipf("%s unavailable: %v", b.Name(), err)
			}
			checkBackend(t, b, Cases(), gaps)
		})
	}
}

// difference is one case where a layer and the model disagree.
type difference struct {
	c         *Case
	direction string
	outcome   string
}

// checkBackend runs cases through b, each on a fresh fixture, and checks
// each outcome against the model, each effect against the outcome, and
// each difference against the gap table and the pending fixes.
func checkBackend(t *testing.T, b Backend, all []*Case, gaps []Gap) {
	base := t.TempDir()
	// The fixtures must be reachable by the unprivileged helpers some
	// layers run as; t.TempDir is 0700.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// Without user xattrs the xattr cases cannot show anything: the
	// filesystem refuses them (EOPNOTSUPP, ENODATA) whatever the layer says.
	noXattrs := userXattrs(base)
	// notRun are the cases this machine cannot run but another can; the
	// inexpressible ones never run on the layer, so the gap rows are
	// judged without them.
	var cases, notRun []*Case
	skipped := map[string]int{}
	for _, c := range all {
		why := b.Inexpressible(c)
		if why == "" && noXattrs != nil && needsXattrs(c) {
			why = noXattrs.Error()
			notRun = append(notRun, c)
		}
		if why != "" {
			skipped[why]++
			continue
		}
		cases = append(cases, c)
	}
	for why, n := range skipped {
		t.Logf("%d cases not run: %s", n, why)
	}
	roots := make([]string, len(cases))
	before := make([]string, len(cases))
	for i := range cases {
		roots[i] = filepath.Join(base, fmt.Sprint(i))
		if err := makeFixture(roots[i], noXattrs == nil); err != nil {
			t.Fatalf("fixture: %v", err)
		}
		var err error
		if before[i], err = snapshot(roots[i]); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	outcomes := b.Run(t, cases, roots)
	if len(outcomes) != len(cases) {
		t.Fatalf("%s returned %d outcomes for %d cases", b.Name(), len(outcomes), len(cases))
	}
	var diffs []difference
	for i, c := range cases {
		missing := c.Missing()
		want := allowed
		if missing != 0 {
			want = denied
		}
		got := verdict(c, outcomes[i])
		after, err := snapshot(roots[i])
		if err != nil {
			t.Errorf("%s: snapshot after: %v", c.Name, err)
			continue
		}
		switch {
		case got == broken:
			t.Errorf("%s: %s: %s (model: %s, missing %v)", b.Name(), c.Name, outcomes[i], want, missing)
			continue
		case got == denied && after != before[i]:
			diffs = append(diffs, difference{c, leftover, fmt.Sprintf("%s, but the tree changed: %s", outcomes[i], strings.ReplaceAll(treeDiff(before[i], after), "\n", ", "))})
		case got == allowed && c.Effect == nil && after != before[i]:
			t.Errorf("%s: %s: allowed; changed what it should not:\n%s", b.Name(), c.Name, treeDiff(before[i], after))
		case got == allowed && c.Effect != nil:
			if err := c.Effect(roots[i]); err != nil {
				t.Errorf("%s: %s: allowed, but no effect: %v", b.Name(), c.Name, err)
			}
		}
		if got != want {
			dir := wider
			if got == denied {
				dir = narrower
			}
			diffs = append(diffs, difference{c, dir, outcomes[i]})
		}
	}
	checkDiffs(t, b.Name(), diffs, gaps, notRun)
}

// checkDiffs fails every difference no gap declares, reports the pending
// fixes, and fails every gap or pending row of layer that matched no
// difference no other row matches too (a stale or redundant row). A row
// that matches a case this machine could not run (notRun: no user xattrs
// here) may declare only that case's difference, so an unused one is
// reported, not failed.
func checkDiffs(t *testing.T, layer string, diffs []difference, gaps []Gap, notRun []*Case) {
	unchecked := func(g Gap) bool {
		for _, c := range notRun {
			if ok, _ := path.Match(g.Pattern, c.Name); ok {
				return true
			}
		}
		return false
	}
	usedGap := make([]int, len(gaps))
	usedPending := make([]int, len(pendingFix))
	shared, sharedPending := map[int]bool{}, map[int]bool{}
	undeclared := map[string][]string{}
	for _, d := range diffs {
		var byGap, byPending []int
		for i, g := range gaps {
			if g.matches(layer, d.c.Name, d.direction) {
				byGap = append(byGap, i)
			}
		}
		for i, g := range pendingFix {
			if g.matches(layer, d.c.Name, d.direction) {
				byPending = append(byPending, i)
			}
		}
		// A row is needed where it alone declares a difference.
		switch {
		case len(byGap) == 1 && len(byPending) == 0:
			usedGap[byGap[0]]++
		case len(byGap) == 0 && len(byPending) == 1:
			usedPending[byPending[0]]++
		case len(byGap) > 1 || len(byPending) > 1:
			for _, i := range byGap {
				shared[i] = true
			}
			for _, i := range byPending {
				sharedPending[i] = true
			}
		}
		if len(byGap)+len(byPending) == 0 {
			key := d.direction
			undeclared[key] = append(undeclared[key], fmt.Sprintf("%s (%s; model: missing %v)", d.c.Name, d.outcome, d.c.Missing()))
		}
	}
	for dir, names := range undeclared {
		sort.Strings(names)
		t.Errorf("%s: %d undeclared %s differences from the model:\n\t%s", layer, len(names), dir, strings.Join(names, "\n\t"))
	}
	for i, g := range gaps {
		switch {
		case g.Layer != layer || usedGap[i] > 0:
		case unchecked(g) && !shared[i]:
			t.Logf("%s: gap %q (%s) matches no difference among the cases run here; it names some this machine cannot run", layer, g.Pattern, g.Direction)
		case shared[i]:
			t.Errorf("%s: gap %q (%s) declares only differences other rows declare too: remove it from %s", layer, g.Pattern, g.Direction, gapDoc)
		default:
			t.Errorf("%s: gap %q (%s) matches no difference: the layer now follows the model there; remove the row from %s", layer, g.Pattern, g.Direction, gapDoc)
		}
	}
	for i, g := range pendingFix {
		if g.Layer != layer {
			continue
		}
		switch {
		case usedPending[i] == 0 && !sharedPending[i] && unchecked(g):
			t.Logf("%s: pending fix %q (%s) matches no difference among the cases run here; it names some this machine cannot run", layer, g.Pattern, g.Direction)
		case usedPending[i] == 0 && !sharedPending[i]:
			t.Errorf("%s: pending fix %q (%s) matches no difference: fixed; remove it from pendingFix", layer, g.Pattern, g.Direction)
		default:
			t.Logf("%s: pending fix %q (%s): %d cases still differ: %s", layer, g.Pattern, g.Direction, usedPending[i], g.Reason)
		}
	}
}

// treeDiff lists the snapshot lines that differ.
func treeDiff(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	in := func(lines []string, l string) bool {
		for _, x := range lines {
			if x == l {
				return true
			}
		}
		return false
	}
	var out []string
	for _, l := range b {
		if !in(a, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range a {
		if !in(b, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
