package differential

import (
	"fmt"
	"os"
	"path"
	"strings"
)

// Directions of a difference from the model.
const (
	wider    = "wider"    // the layer allows what the model refuses
	narrower = "narrower" // the layer refuses what the model allows
	// leftover: the layer refuses, yet the operation changed the files
	// (a refusal should leave them as they were). The docs table may
	// declare it only where the change is one the rights allowed anyway.
	leftover = "refused-but-changed"
)

// Gap is a declared, intended difference between a layer and the model:
// on the cases whose name matches Pattern (path.Match: op/shape/variant),
// the layer answers in Direction. The rows are read from the table in
// docs/rights-model.md, so the page and the suite are one fact: the suite
// fails on a difference no row declares and on a row that matches no
// difference of its own.
type Gap struct {
	Layer, Pattern, Direction, Reason string
}

func (g Gap) matches(layer, name, direction string) bool {
	ok, _ := path.Match(g.Pattern, name)
	return ok && g.Layer == layer && g.Direction == direction
}

// gapDoc is the page whose "Where the layers differ" table is the gap list.
const gapDoc = "../../docs/rights-model.md"

// loadGaps reads the gap table: the markdown table whose header starts
// "| layer | case pattern | direction | reason |".
func loadGaps(file string) ([]Gap, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []Gap
	inTable := false
	for n, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !inTable && len(cells) == 4 && cells[0] == "layer" && cells[1] == "case pattern":
			inTable = true
		case !inTable, strings.HasPrefix(cells[0], "---"):
		case len(cells) != 4:
			return nil, fmt.Errorf("%s:%d: want 4 cells, got %d", file, n+1, len(cells))
		default:
			g := Gap{Layer: cells[0], Pattern: cells[1], Direction: cells[2], Reason: cells[3]}
			if _, err := path.Match(g.Pattern, ""); err != nil {
				return nil, fmt.Errorf("%s:%d: pattern %q: %w", file, n+1, g.Pattern, err)
			}
			if g.Direction != wider && g.Direction != narrower && g.Direction != leftover {
				return nil, fmt.Errorf("%s:%d: direction %q is not %s, %s or %s", file, n+1, g.Direction, wider, narrower, leftover)
			}
			if g.Reason == "" {
				return nil, fmt.Errorf("%s:%d: no reason", file, n+1)
			}
			// A row may name several layers ("capfd-run, capfd-run-kernel")
			// that differ alike; each is checked as its own row.
			for _, layer := range strings.Split(g.Layer, ",") {
				g.Layer = strings.TrimSpace(layer)
				out = append(out, g)
			}
		}
	}
	if !inTable {
		return nil, fmt.Errorf("%s: no table with header | layer | case pattern | direction | reason |", file)
	}
	return out, nil
}

// pendingFix are differences that are bugs, not intended: the layer is
// being changed to follow the model. They are reported (t.Log) rather
// than failed, so the suite stays green meanwhile, and each row must still
// differ (a fixed bug fails the suite until its row is removed).
var pendingFix = []Gap{}
