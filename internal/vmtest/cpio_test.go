package vmtest

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one archive member as parsed by readCPIO.
type cpioEntry struct {
	name                 string
	mode, nlink          uint32
	rdevMajor, rdevMinor uint32
	data                 []byte
}

// readCPIO is an independent newc parser, written from the format
// description the kernel follows (Documentation/driver-api/early-userspace/
// buffer-format.rst), so the writer is not checked against itself.
func readCPIO(b []byte) ([]cpioEntry, error) {
	var entries []cpioEntry
	off := 0
	for {
		if len(b)-off < 110 {
			return nil, fmt.Errorf("offset %d: truncated header", off)
		}
		hdr := b[off : off+110]
		if string(hdr[:6]) != "070701" {
			return nil, fmt.Errorf("offset %d: magic %q", off, hdr[:6])
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("offset %d: field %d: %v", off, i, err)
			}
			f[i] = uint32(v)
		}
		nameSize, fileSize := int(f[11]), int(f[6])
		nameEnd := off + 110 + nameSize
		if nameSize == 0 || nameEnd > len(b) || b[nameEnd-1] != 0 {
			return nil, fmt.Errorf("offset %d: bad name size %d", off, nameSize)
		}
		name := string(b[off+110 : nameEnd-1])
		dataStart := align4(nameEnd)
		dataEnd := dataStart + fileSize
		if dataEnd > len(b) {
			return nil, fmt.Errorf("%s: truncated data", name)
		}
		if name == "TRAILER!!!" {
			if align4(dataEnd) != len(b) {
				return nil, fmt.Errorf("%d bytes after the trailer", len(b)-align4(dataEnd))
			}
			return entries, nil
		}
		entries = append(entries, cpioEntry{
			name: name, mode: f[1], nlink: f[4], rdevMajor: f[9], rdevMinor: f[10],
			data: b[dataStart:dataEnd],
		})
		off = align4(dataEnd)
	}
}

func align4(n int) int { return (n + 3) &^ 3 }

// checkParentsFirst verifies every entry's directory was created before it,
// which the kernel's unpacker needs.
func checkParentsFirst(entries []cpioEntry) error {
	dirs := map[string]bool{".": true}
	for _, e := range entries {
		if !dirs[path.Dir(e.name)] {
			return fmt.Errorf("%s comes before its directory", e.name)
		}
		if e.mode&0o170000 == cpioModeDir {
			dirs[e.name] = true
		}
	}
	return nil
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	cw := newCPIOWriter(&buf)
	files := map[string]string{
		"/init":           "#!init",
		"/vmtest/test":    "binary",
		"/a/b/c/odd-size": "12345",
		"/a/b/empty":      "",
	}
	for _, name := range []string{"/init", "/vmtest/test", "/a/b/c/odd-size", "/a/b/empty"} {
		if err := cw.File(name, 0o755, int64(len(files[name])), strings.NewReader(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.CharDev("/dev/console", 0o600, 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := cw.Dir("/a/b"); err != nil { // already there: no second entry
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}

	entries, err := readCPIO(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkParentsFirst(entries); err != nil {
		t.Error(err)
	}
	got := map[string]cpioEntry{}
	for _, e := range entries {
		if _, dup := got[e.name]; dup {
			t.Errorf("%s written twice", e.name)
		}
		got[e.name] = e
	}
	for name, data := range files {
		e, ok := got[strings.TrimPrefix(name, "/")]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if e.mode != cpioModeFile|0o755 || string(e.data) != data {
			t.Errorf("%s: mode %o data %q, want %o %q", name, e.mode, e.data, cpioModeFile|0o755, data)
		}
	}
	for _, dir := range []string{"a", "a/b", "a/b/c", "vmtest", "dev"} {
		if e, ok := got[dir]; !ok || e.mode != cpioModeDir|0o755 || e.nlink != 2 {
			t.Errorf("directory %s: %+v (present %v)", dir, e, ok)
		}
	}
	if c := got["dev/console"]; c.mode != cpioModeChar|0o600 || c.rdevMajor != 5 || c.rdevMinor != 1 {
		t.Errorf("dev/console: %+v", c)
	}
}

func TestCPIOWriterRejects(t *testing.T) {
	tests := []struct {
		name string
		add  func(*cpioWriter) error
	}{
		{"dotdot", func(c *cpioWriter) error { return c.File("../etc/passwd", 0o644, 0, strings.NewReader("")) }},
		{"inner dotdot", func(c *cpioWriter) error { return c.File("/a/../../b", 0o644, 0, strings.NewReader("")) }},
		{"double slash", func(c *cpioWriter) error { return c.Dir("/a//b") }},
		{"root", func(c *cpioWriter) error { return c.Dir("/") }},
		{"nul", func(c *cpioWriter) error { return c.Dir("/a\x00b") }},
		{"empty", func(c *cpioWriter) error { return c.CharDev("", 0o600, 5, 1) }},
		{"short data", func(c *cpioWriter) error { return c.File("/f", 0o644, 10, strings.NewReader("abc")) }},
		{"too big", func(c *cpioWriter) error { return c.File("/f", 0o644, 1<<32, strings.NewReader("")) }},
		{"negative size", func(c *cpioWriter) error { return c.File("/f", 0o644, -1, strings.NewReader("")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.add(newCPIOWriter(&bytes.Buffer{})); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestCPIOWriterPropagatesWriteErrors(t *testing.T) {
	errBoom := errors.New("disk full")
	cw := newCPIOWriter(failingWriter{errBoom})
	if err := cw.File("/x", 0o644, 1, strings.NewReader("x")); !errors.Is(err, errBoom) {
		t.Errorf("File on a failing writer: %v, want %v", err, errBoom)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// FuzzCPIOWriter checks that any accepted name and content round-trip through
// an independent parser, with parents first and the archive well formed.
func FuzzCPIOWriter(f *testing.F) {
	f.Add("/init", []byte("x"))
	f.Add("a/b/c", []byte("abcd"))
	f.Add("/vmtest/pkg/github.com/x/testdata/f.txt", []byte{})
	f.Add("../x", []byte("y"))
	f.Add("a\x00b", []byte("z"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		var buf bytes.Buffer
		cw := newCPIOWriter(&buf)
		if err := cw.File(name, 0o644, int64(len(data)), bytes.NewReader(data)); err != nil {
			return // rejected names are fine; only accepted ones must be right
		}
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		entries, err := readCPIO(buf.Bytes())
		if err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
		if err := checkParentsFirst(entries); err != nil {
			t.Fatal(err)
		}
		last := entries[len(entries)-1]
		if last.name != strings.TrimPrefix(name, "/") || !bytes.Equal(last.data, data) {
			t.Fatalf("wrote %q (%d bytes), read back %q (%d bytes)", name, len(data), last.name, len(last.data))
		}
		if path.Clean(last.name) != last.name || strings.HasPrefix(last.name, "../") || last.name == ".." || strings.ContainsRune(last.name, 0) {
			t.Fatalf("unsafe name %q accepted", last.name)
		}
	})
}
