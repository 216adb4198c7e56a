package treestate

import (
	"os"
	"path/filepath"
	"testing"
)

// Each kind of change a test relies on seeing shows in the description.
func TestChangesShow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		full   bool
		change func(root string) error
	}{
		{"create", false, func(r string) error { return os.WriteFile(filepath.Join(r, "new"), nil, 0o644) }},
		{"remove", false, func(r string) error { return os.Remove(filepath.Join(r, "f")) }},
		{"rewrite", false, func(r string) error { return os.WriteFile(filepath.Join(r, "f"), []byte("other"), 0) }},
		{"retarget", false, func(r string) error {
			os.Remove(filepath.Join(r, "l"))
			return os.Symlink("elsewhere", filepath.Join(r, "l"))
		}},
		{"chmod", true, func(r string) error { return os.Chmod(filepath.Join(r, "f"), 0o600) }},
		{"link", true, func(r string) error { return os.Link(filepath.Join(r, "f"), filepath.Join(r, "d", "g")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("f", filepath.Join(root, "l")); err != nil {
				t.Fatal(err)
			}
			describe := Names
			if tc.full {
				describe = Full
			}
			before, err := describe(root)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := describe(root); again != before {
				t.Fatalf("two descriptions of an unchanged tree differ:\n%s\n%s", before, again)
			}
			if err := tc.change(root); err != nil {
				t.Fatal(err)
			}
			if after, _ := describe(root); after == before {
				t.Fatalf("change not seen:\n%s", after)
			}
		})
	}
}
