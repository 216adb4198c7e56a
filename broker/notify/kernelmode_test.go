package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
)

// TestKernelForms: which families the kernel answers for which grants, and
// when kernel mode cannot be had (kernelmode.go).
func TestKernelForms(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"d/n", "e"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "d/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro, rw := rights.Uniform(rights.ReadOnly), rights.Uniform(rights.ReadWrite)
	pair := func(base, inherit rights.Rights) rights.Pair { return rights.Pair{Base: base, Inherit: inherit} }
	d, n, f, e := filepath.Join(root, "d"), filepath.Join(root, "d/n"), filepath.Join(root, "d/f"), filepath.Join(root, "e")
	cases := []struct {
		name   string
		grants []Grant
		want   KernelForms
		err    string // "" when kernel mode can be had
	}{
		{"ro", []Grant{{Path: d, Rights: ro}}, KernelForms{Stat: true, Readlink: true}, ""},
		{"rw beside ro", []Grant{{Path: d, Rights: rw}, {Path: e, Rights: ro}}, KernelForms{Stat: true, Readlink: true}, ""},
		{"no stat", []Grant{{Path: d, Rights: rights.Uniform(rights.Lookup | rights.Read | rights.Readdir | rights.Readlink)}}, KernelForms{Readlink: true}, ""},
		{"no readlink", []Grant{{Path: d, Rights: rights.Uniform(rights.Lookup | rights.Read | rights.Readdir | rights.Stat)}}, KernelForms{Stat: true}, ""},
		{"no lookup", []Grant{{Path: d, Rights: rights.Uniform(rights.ReadOnly.Without(rights.Lookup))}}, KernelForms{}, "lacks lookup"},
		{"no lookup beneath", []Grant{{Path: d, Rights: pair(rights.ReadOnly, rights.ReadOnly.Without(rights.Lookup))}}, KernelForms{}, "lacks lookup"},
		{"a file grant needs no inherit", []Grant{{Path: f, Rights: pair(rights.ReadOnly, 0)}}, KernelForms{Stat: true, Readlink: true}, ""},
		{"readdir on the directory only", []Grant{{Path: d, Rights: pair(rights.ReadOnly, rights.ReadOnly.Without(rights.Readdir))}}, KernelForms{}, "readdir"},
		{"nested, no narrower", []Grant{{Path: d, Rights: ro}, {Path: n, Rights: rw}}, KernelForms{Stat: true, Readlink: true}, ""},
		{"nested, narrower in read", []Grant{{Path: d, Rights: ro}, {Path: n, Rights: rights.Uniform(rights.ReadOnly.Without(rights.Read))}}, KernelForms{}, "narrower than grant " + d},
		{"nested file, narrower in read", []Grant{{Path: d, Rights: ro}, {Path: f, Rights: pair(rights.ReadOnly.Without(rights.Read), 0)}}, KernelForms{}, "narrower than grant " + d},
		{"missing inside a grant", []Grant{{Path: d, Rights: rw}, {Path: filepath.Join(d, "later"), Rights: ro, Optional: true}}, KernelForms{}, "is missing and lies inside grant " + d},
		{"missing elsewhere", []Grant{{Path: d, Rights: rw}, {Path: filepath.Join(root, "later"), Rights: ro, Optional: true}}, KernelForms{Stat: true, Readlink: true}, ""},
		{"learning", []Grant{{Path: d, Rights: rw}, {Path: "/", Rights: rights.Uniform(rights.All), Learn: true}}, KernelForms{}, "learning"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, err := openGrants(c.grants)
			if err != nil {
				t.Fatal(err)
			}
			defer tab.close()
			got, _, err := tab.kernelForms()
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("kernel mode refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one saying %q", err, c.err)
			case c.err == "" && got != c.want:
				t.Errorf("forms %+v, want %+v", got, c.want)
			}
		})
	}
}
