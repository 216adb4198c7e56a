package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfd/capfd/examples/internal/exampletest"
)

func TestMain(m *testing.M) { exampletest.Main(m, main) }

// testLimits are small, so the bomb entry can be small too.
var testLimits = Limits{MaxBytes: 1 << 20, MaxEntries: 1000, MaxDecompressed: 8 << 20}

// hostile is an archive that tries every way out of its destination
// between valid entries. outside is the absolute path of the directory
// next to the destination.
func hostile(outside string) []spec {
	return []spec{
		{name: "good.txt", kind: kindFile, body: "hello"},
		{name: "../outside/dotdot", kind: kindFile, body: "PWNED", want: ErrEscapes},
		{name: outside + "/absolute", kind: kindFile, body: "PWNED", want: ErrEscapes},
		{name: "dir/", kind: kindDir},
		{name: "dir/nested.txt", kind: kindFile, body: "nested"},
		{name: "dir/../sibling.txt", kind: kindFile, body: "sibling"}, // ".." that stays inside is fine

		// A symlink out, then a file "beneath" it.
		{name: "abslink", kind: kindSymlink, body: outside, want: ErrLinkOutside},
		{name: "abslink/pwned", kind: kindFile, body: "PWNED", want: ErrParentRefused},
		{name: "rellink", kind: kindSymlink, body: "../outside", want: ErrLinkOutside},
		{name: "rellink/pwned", kind: kindFile, body: "PWNED", want: ErrParentRefused},
		{name: "dir/uplink", kind: kindSymlink, body: "../..", want: ErrLinkOutside},
		{name: "dir/uplink/outside/pwned", kind: kindFile, body: "PWNED", want: ErrParentRefused},
		// A symlink inside is extracted, but nothing is written through
		// it: the capability refuses every symlink on the way.
		{name: "innerlink", kind: kindSymlink, body: "dir"},
		{name: "innerlink/through.txt", kind: kindFile, body: "through", want: ErrThroughSymlink},

		// Hard links: to a file outside, and to one inside.
		{name: "hardabs", kind: kindHardlink, body: outside + "/x", want: ErrEscapes, tarOnly: true},
		{name: "hardrel", kind: kindHardlink, body: "../outside/x", want: ErrEscapes, tarOnly: true},
		{name: "hardok", kind: kindHardlink, body: "good.txt", tarOnly: true},
		// ... and a write to the name of the link out: a naive extractor
		// truncates and writes the file outside.
		{name: "hardrel", kind: kindFile, body: "PWNED", want: ErrParentRefused, tarOnly: true},

		{name: "null", kind: kindOther, want: ErrType},
		{name: "bomb.bin", kind: kindFile, size: 2 << 20, want: ErrTooBig},
		{name: "after-bomb.txt", kind: kindFile, body: "still here"},
		{name: "setuid", kind: kindFile, body: "#!/bin/sh\n", mode: fs.ModeSetuid | 0o755},
		{name: "good.txt", kind: kindFile, body: "overwrite", want: ErrExists},

		// Written through symlinks the test plants in the destination
		// before extracting (as a naive tool run earlier might have left):
		// no archive entry is refused first, so only the capability's
		// resolution stands between these and the outside.
		{name: "planted-abs/pwned", kind: kindFile, body: "PWNED", want: ErrThroughSymlink},
		{name: "planted-rel/pwned", kind: kindFile, body: "PWNED", want: ErrThroughSymlink},
		{name: "planted-rel", kind: kindHardlink, body: "planted-rel/../x", want: ErrThroughSymlink, tarOnly: true},
	}
}

var planted = []string{"planted-abs", "planted-rel"}

func (s scene) plant(t testing.TB) {
	t.Helper()
	for name, target := range map[string]string{"planted-abs": s.outside, "planted-rel": "../outside"} {
		if err := os.Symlink(target, filepath.Join(s.dst, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExtractHostile extracts the hostile archive in each format and
// checks every entry's outcome and reason, that nothing outside changed,
// and that the valid entries are intact. The same archive, given to a
// naive extractor, writes outside: the attack works without the
// capability.
func TestExtractHostile(t *testing.T) {
	formats := []struct {
		name  string
		build func(testing.TB, []spec) []byte
	}{
		{"tar", buildTar},
		{"tar.gz", func(t testing.TB, s []spec) []byte { return gzipped(t, buildTar(t, s)) }},
		{"zip", buildZip},
	}
	for _, format := range formats {
		t.Run(format.name, func(t *testing.T) {
			s := newScene(t)
			s.plant(t)
			specs := hostile(s.outside)
			archive := filepath.Join(s.base, "archive."+format.name)
			if err := os.WriteFile(archive, format.build(t, specs), 0o644); err != nil {
				t.Fatal(err)
			}

			fds := openFds(t)
			result, err := run(archive, s.dst, testLimits)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if after := openFds(t); after != fds {
				t.Errorf("%d fds open after extracting, %d before", after, fds)
			}
			checkOutcomes(t, specs, result, format.name == "zip")
			if changes := s.outsideChanges(t); len(changes) > 0 {
				t.Errorf("the archive changed the outside: %v", changes)
			}
			if links := s.linksOut(t, planted...); len(links) > 0 {
				t.Errorf("symlinks out of the destination were extracted: %v", links)
			}
			checkContents(t, s.dst, map[string]string{
				"good.txt":       "hello",
				"hardok":         "hello",
				"dir/nested.txt": "nested",
				"sibling.txt":    "sibling",
				"after-bomb.txt": "still here",
				"innerlink":      "-> dir",
			}, format.name == "zip")
			if info, err := os.Stat(filepath.Join(s.dst, "setuid")); err != nil || info.Mode() != 0o755 {
				t.Errorf("setuid entry: %v, %v; want mode 0755 with the set-uid bit dropped", info, err)
			}
			for _, name := range []string{"bomb.bin", "null", "innerlink/through.txt", "dir/through.txt"} {
				if _, err := os.Lstat(filepath.Join(s.dst, name)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("refused entry %s exists in the destination (%v)", name, err)
				}
			}
		})
	}

	t.Run("naive", func(t *testing.T) {
		s := newScene(t)
		s.plant(t)
		naiveExtract(t, bytes.NewReader(buildTar(t, hostile(s.outside))), s.dst)
		changes := s.outsideChanges(t)
		for _, want := range []string{"outside/dotdot", "outside/pwned", "outside/x now holds"} {
			if !strings.Contains(strings.Join(changes, "\n"), want) {
				t.Errorf("naive extractor: expected %q among the changes outside, got %v", want, changes)
			}
		}
		if links := s.linksOut(t, planted...); len(links) == 0 {
			t.Errorf("naive extractor left no symlink out of the destination")
		}
	})
}

func checkOutcomes(t *testing.T, specs []spec, result Result, isZip bool) {
	t.Helper()
	extracted := map[string]int{}
	for _, name := range result.Extracted {
		extracted[name]++
	}
	refused := map[string][]error{}
	for _, r := range result.Refused {
		refused[r.Name] = append(refused[r.Name], r.Err)
	}
	for _, s := range specs {
		if isZip && s.tarOnly {
			continue
		}
		if s.want == nil {
			if extracted[s.name] == 0 {
				t.Errorf("%s: not extracted (refused: %v)", s.name, refused[s.name])
			}
			extracted[s.name]--
			continue
		}
		if len(refused[s.name]) == 0 {
			t.Errorf("%s: not refused, want %v", s.name, s.want)
			continue
		}
		err := refused[s.name][0]
		refused[s.name] = refused[s.name][1:]
		if !errors.Is(err, s.want) {
			t.Errorf("%s: refused with %v, want %v", s.name, err, s.want)
		}
	}
}

// checkContents checks files by content and symlinks ("-> target").
func checkContents(t *testing.T, dst string, want map[string]string, isZip bool) {
	t.Helper()
	for name, content := range want {
		if isZip && name == "hardok" {
			continue
		}
		p := filepath.Join(dst, name)
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			if got, err := os.Readlink(p); err != nil || got != target {
				t.Errorf("%s: readlink = %q, %v; want %q", name, got, err, target)
			}
			continue
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != content {
			t.Errorf("%s: content %q, %v; want %q", name, got, err, content)
		}
	}
}

// naiveExtract is the extractor found in countless programs: join the
// entry name to the destination and create it.
func naiveExtract(t *testing.T, r io.Reader, dst string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("naive: %v", err)
		}
		target := filepath.Join(dst, hdr.Name)
		os.MkdirAll(filepath.Dir(target), 0o755)
		switch hdr.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			f, err := os.Create(target)
			if err != nil {
				continue
			}
			io.Copy(f, tr)
			f.Close()
		case tar.TypeSymlink:
			os.Symlink(hdr.Linkname, target)
		case tar.TypeLink:
			os.Link(filepath.Join(dst, hdr.Linkname), target)
		}
	}
}
