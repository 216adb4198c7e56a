// Package docs keeps the README true to the code: its Layout table lists
// every package of the module with the opening of the package's own
// documentation, so the two say the same thing, and a new package (or a
// changed package doc) fails here until the README says so too.
package docs

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const root = "../.."

// packageDocs maps each package directory (relative to the module root)
// to the synopsis of its package comment. Test-only packages (tests/...)
// count, with the comment of their test files.
func packageDocs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		if _, seen := out[dir]; !seen {
			out[dir] = ""
		}
		if f.Doc != nil && (out[dir] == "" || !strings.HasSuffix(name, "_test.go")) {
			out[dir] = synopsis(f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// synopsis is the first sentence of f's package comment, less its
// "Package name" or "Command name" opening, up to its first colon,
// semicolon or parenthesis (what follows is detail), without a final stop.
func synopsis(f *ast.File) string {
	s := summary(f)
	for _, sep := range []string{": ", "; ", " ("} {
		s, _, _ = strings.Cut(s, sep)
	}
	return strings.TrimSuffix(s, ".")
}

func summary(f *ast.File) string {
	var p doc.Package
	s := p.Synopsis(f.Doc.Text())
	for _, kind := range []string{"Package ", "Command "} {
		if rest, ok := strings.CutPrefix(s, kind+f.Name.Name+" "); ok {
			return rest
		}
		if rest, ok := strings.CutPrefix(s, kind); ok {
			if _, rest, ok := strings.Cut(rest, " "); ok {
				return rest
			}
		}
	}
	return s
}

// readmeLayout parses the README's Layout table: | `dir/` | synopsis |.
func readmeLayout(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) != 2 {
			continue
		}
		dir := strings.TrimSuffix(strings.Trim(strings.TrimSpace(cells[0]), "`"), "/")
		out[dir] = strings.TrimSpace(cells[1])
	}
	return out
}

func TestReadmeLayout(t *testing.T) {
	code, readme := packageDocs(t), readmeLayout(t)
	var dirs []string
	for dir := range code {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		want := code[dir]
		if want == "" {
			t.Errorf("package %s has no package documentation", dir)
			continue
		}
		got, ok := readme[dir]
		switch {
		case !ok:
			t.Errorf("README's Layout does not list %s; add:\n| `%s/` | %s |", dir, dir, want)
		case got != want:
			t.Errorf("README's Layout says of %s:\n  %s\nits package doc:\n  %s", dir, got, want)
		}
	}
	for dir := range readme {
		if _, ok := code[dir]; !ok {
			t.Errorf("README's Layout lists %s, which is no package", dir)
		}
	}
}
