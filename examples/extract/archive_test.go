package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spec is one archive entry, written the same way into a tar or a zip.
type spec struct {
	name    string
	kind    entryKind
	body    string      // file data, or a link's target
	size    int         // >0: file data of this many zero bytes instead of body
	mode    fs.FileMode // permission and set-id bits; 0 means 0644
	want    error       // the refusal reason; nil if it must be extracted
	tarOnly bool        // left out of zips (which have no hard links)
}

func (s spec) data() []byte {
	if s.size > 0 {
		return make([]byte, s.size)
	}
	return []byte(s.body)
}

func (s spec) perm() fs.FileMode {
	if s.mode == 0 {
		return 0o644
	}
	return s.mode
}

func buildTar(t testing.TB, specs []spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, s := range specs {
		hdr := &tar.Header{Name: s.name, Mode: int64(s.perm() & fs.ModePerm)}
		if s.perm()&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		switch s.kind {
		case kindFile:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(s.data()))
		case kindDir:
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		case kindSymlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, s.body
		case kindHardlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, s.body
		case kindOther:
			hdr.Typeflag, hdr.Devmajor, hdr.Devminor = tar.TypeChar, 1, 3 // /dev/null's numbers
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", s.name, err)
		}
		if s.kind == kindFile {
			if _, err := tw.Write(s.data()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildZip writes specs as a zip; hard links have no zip form and are
// left out.
func buildZip(t testing.TB, specs []spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, s := range specs {
		if s.tarOnly {
			continue
		}
		fh := &zip.FileHeader{Name: s.name, Method: zip.Deflate}
		var data []byte
		switch s.kind {
		case kindFile:
			fh.SetMode(s.perm())
			data = s.data()
		case kindDir:
			fh.SetMode(fs.ModeDir | 0o755)
		case kindSymlink:
			fh.SetMode(fs.ModeSymlink | 0o777)
			data = []byte(s.body)
		case kindHardlink:
			t.Fatalf("zip has no hard links: mark %s tarOnly", s.name)
		case kindOther:
			fh.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o666)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatalf("zip header %s: %v", s.name, err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scene is a destination with a directory next to it that no archive may
// touch; outside/x is the file hostile hard links aim at.
type scene struct {
	base, dst, outside string
}

const canary = "original content"

func newScene(t testing.TB) scene {
	t.Helper()
	base := t.TempDir()
	s := scene{base: base, dst: filepath.Join(base, "dst"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.dst, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "x"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// outsideChanges lists what differs outside the destination: any entry
// besides x, or x not holding the canary.
func (s scene) outsideChanges(t testing.TB) []string {
	t.Helper()
	var changes []string
	entries, err := os.ReadDir(s.outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "x" {
			changes = append(changes, "outside/"+e.Name()+" appeared")
		}
	}
	if data, err := os.ReadFile(filepath.Join(s.outside, "x")); err != nil || string(data) != canary {
		changes = append(changes, "outside/x now holds "+strings.TrimSpace(string(data)))
	}
	top, err := os.ReadDir(s.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if n := e.Name(); n != "dst" && n != "outside" && !strings.HasPrefix(n, "archive.") {
			changes = append(changes, n+" appeared next to the destination")
		}
	}
	return changes
}

// linksOut lists the symlinks beneath dst whose target leaves dst, but
// for the ones the test planted there itself.
func (s scene) linksOut(t testing.TB, planted ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		rel, _ := filepath.Rel(s.dst, p)
		for _, name := range planted {
			if rel == name {
				return nil
			}
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		joined := filepath.Join(filepath.Dir(rel), target)
		if filepath.IsAbs(target) || joined == ".." || strings.HasPrefix(joined, "../") {
			out = append(out, rel+" -> "+target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openFds counts this process's open descriptors.
func openFds(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
