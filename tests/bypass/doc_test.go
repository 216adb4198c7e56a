package bypass

import (
	"os"
	"strings"
	"testing"
)

// docBackends are the columns of the attack table this file checks; each
// backend's owner adds its name once its column says "blocked" or "gap".
var docBackends = []Backend{LandlockSeccomp{}, landlockOnly{}, seccompOnly{}, &bpfBackend{}}

// TestKernelEnforcementDoc keeps docs/kernel-enforcement.md true: one row
// per attack, and in each checked column "blocked" exactly where the
// backend does not list a gap and "gap" where it does. The suite itself
// proves the gaps and the blocks; this proves the page says the same.
func TestKernelEnforcementDoc(t *testing.T) {
	const path = "../../docs/kernel-enforcement.md"
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, rows := attackTable(string(text))
	if header == nil {
		t.Fatalf("%s: no table with an \"attack\" header column", path)
	}
	column := map[string]int{}
	for i, h := range header {
		column[h] = i
	}
	for _, a := range Catalogue() {
		row, ok := rows[a.Name]
		if !ok {
			t.Errorf("%s: no row for attack %s", path, a.Name)
			continue
		}
		for _, b := range docBackends {
			i, ok := column[b.Name()]
			if !ok || i >= len(row) {
				t.Errorf("%s: no %s column", path, b.Name())
				continue
			}
			want := "blocked"
			if _, gap := b.Gaps()[a.Name]; gap {
				want = "gap"
			}
			if !strings.HasPrefix(row[i], want) {
				t.Errorf("%s: %s × %s says %q, the backend says %s", path, a.Name, b.Name(), row[i], want)
			}
		}
	}
	for name := range rows {
		if _, ok := attackByName(name); !ok {
			t.Errorf("%s: row for unknown attack %s", path, name)
		}
	}
}

// attackTable finds the markdown table whose first header cell is "attack"
// and returns its header and rows keyed by attack name.
func attackTable(text string) (header []string, rows map[string][]string) {
	rows = map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "|") {
			if header != nil && len(rows) > 0 {
				break // end of the table
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil && cells[0] == "attack":
			header = cells
		case header != nil && strings.HasPrefix(cells[0], "---"):
		case header != nil:
			rows[cells[0]] = cells
		}
	}
	return header, rows
}
