package capmode

import (
	"os"
	"strings"
	"testing"
)

// TestDocTable keeps docs/capability-mode.md's table the same as
// Authorities, row for row.
func TestDocTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/capability-mode.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| authority ") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	if len(rows) != len(Authorities) {
		t.Fatalf("the doc's table has %d rows, Authorities %d", len(rows), len(Authorities))
	}
	for i, a := range Authorities {
		give := a.GiveBack
		if give == "" {
			give = "never"
		}
		want := []string{a.Name, a.Capsicum, a.Mechanism, give}
		if strings.Join(rows[i], "\x00") != strings.Join(want, "\x00") {
			t.Errorf("row %d:\n doc  %q\n code %q", i+1, rows[i], want)
		}
	}
}

// TestEnforcementSaysWhatIsMissing: every authority gets a status, and a
// kernel without what a row rests on is said so.
func TestEnforcementSaysWhatIsMissing(t *testing.T) {
	full := Enforcement(Kernel{LandlockABI: 7, Seccomp: true})
	if len(full) != len(Authorities) {
		t.Fatalf("%d statuses for %d authorities", len(full), len(Authorities))
	}
	for _, s := range full {
		if !s.Enforced {
			t.Errorf("%s not enforced with seccomp and Landlock 7", s.Authority)
		}
	}
	old := Enforcement(Kernel{LandlockABI: 3, Seccomp: true})
	for _, s := range old {
		switch s.Authority {
		case "TCP addresses":
			if !strings.Contains(s.How, "ABI 4") {
				t.Errorf("TCP on ABI 3: %q", s.How)
			}
		case "signals to other processes":
			if !strings.Contains(s.How, "NOT refused") {
				t.Errorf("signals on ABI 3: %q", s.How)
			}
		}
	}
	for _, s := range Enforcement(Kernel{LandlockABI: 7}) {
		if s.Enforced {
			t.Errorf("%s enforced without seccomp", s.Authority)
		}
	}
}
