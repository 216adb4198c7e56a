package differential

import (
	"testing"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// notCovered are the operations of the op table this suite does not run,
// each with why. Every other operation must have a case.
var notCovered = map[vfsops.Op]string{
	vfsops.OpReopen:    "reopen upgrades an O_PATH handle of the library or broker; the kernel layers see it as an open of /proc/self/fd, which tests/bypass attacks",
	vfsops.OpExec:      "exec replaces the process under test; tests/bypass and tests/run check execve/execveat per layer",
	vfsops.OpBindMount: "needs a mount namespace of its own per case; broker/mount tests and tests/broker/mount_test.go cover it",
}

// notRemoved are rights no case removes, each with why. Every other right
// must be removed by some variant.
var notRemoved = map[rights.Rights]string{
	rights.Exec:     "only exec needs it (notCovered)",
	rights.MmapExec: "no operation of the table needs it: mmap(PROT_EXEC) is checked by Landlock/BPF and tests/runvm",
	rights.Mount:    "only bind-mount needs it (notCovered)",
	rights.Connect:  "no operation of the table needs it: connect(2) to a Unix socket is the supervisor's alone (capfd run), tested in tests/run/capmode_test.go",
}

// TestCoverage fails when the op table gains an operation, or rights.All
// a right, that the matrix neither exercises nor declares out of scope.
func TestCoverage(t *testing.T) {
	ops := map[vfsops.Op]bool{}
	for _, s := range specs() {
		ops[s.op] = true
	}
	var removed rights.Rights
	for _, c := range Cases() {
		removed |= c.Removed
		for _, r := range c.Requests {
			ops[r.Op] = true
		}
	}
	for _, op := range vfsops.Ops() {
		why, skip := notCovered[op]
		switch {
		case ops[op] && skip:
			t.Errorf("%v is covered, but notCovered says %q: remove it there", op, why)
		case !ops[op] && !skip:
			t.Errorf("no case runs %v: add a spec in cases.go, or say why in notCovered", op)
		}
	}
	for _, r := range bitsOf(rights.All) {
		why, skip := notRemoved[r]
		switch {
		case removed.Has(r) && skip:
			t.Errorf("right %v is removed by some case, but notRemoved says %q: remove it there", r, why)
		case !removed.Has(r) && !skip:
			t.Errorf("no case removes right %v: add a case that needs it, or say why in notRemoved", r)
		}
	}
}

// TestGapTableDoc checks the table in docs/rights-model.md parses and
// names only layers the suite has; TestDifferential then proves each row
// still differs and that no difference lacks a row.
func TestGapTableDoc(t *testing.T) {
	gaps, err := loadGaps(gapDoc)
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) == 0 {
		t.Fatalf("%s: the gap table has no rows", gapDoc)
	}
	layers := map[string]bool{}
	for _, b := range backends() {
		layers[b.Name()] = true
	}
	seen := map[Gap]bool{}
	for _, g := range gaps {
		if !layers[g.Layer] {
			t.Errorf("%s: row %q names unknown layer %q", gapDoc, g.Pattern, g.Layer)
		}
		key := Gap{Layer: g.Layer, Pattern: g.Pattern, Direction: g.Direction}
		if seen[key] {
			t.Errorf("%s: row %s %q %s appears twice", gapDoc, g.Layer, g.Pattern, g.Direction)
		}
		seen[key] = true
	}
	for _, g := range pendingFix {
		if !layers[g.Layer] {
			t.Errorf("pendingFix row %q names unknown layer %q", g.Pattern, g.Layer)
		}
	}
}
