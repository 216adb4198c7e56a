package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLimits: each archive breaks one limit; the entries before the
// breaking point are extracted, the error says which limit, and nothing
// of the offending entry is left behind.
func TestLimits(t *testing.T) {
	many := make([]spec, 50)
	for i := range many {
		many[i] = spec{name: fmt.Sprintf("f%02d", i), kind: kindFile, body: "x"}
	}
	tests := []struct {
		name      string
		archive   func(testing.TB) []byte
		ext       string
		limits    Limits
		extracted []string
		refused   []string
		err       error // nil: extraction ran to the end
	}{{
		// Far more than -max-decompressed, in a few kilobytes of gzip:
		// it is refused on its declared size, and skipping it stops at
		// the expansion limit instead of inflating all of it.
		name: "gzip bomb",
		archive: func(t testing.TB) []byte {
			return gzipped(t, buildTar(t, []spec{
				{name: "before.txt", kind: kindFile, body: "ok"},
				{name: "bomb", kind: kindFile, size: 8 << 20},
				{name: "after.txt", kind: kindFile, body: "unreachable"},
			}))
		},
		ext:       "tar.gz",
		limits:    Limits{MaxBytes: 1 << 20, MaxEntries: 10, MaxDecompressed: 2 << 20},
		extracted: []string{"before.txt"},
		refused:   []string{"bomb"},
		err:       errExpansion,
	}, {
		name: "total bytes",
		archive: func(t testing.TB) []byte {
			return buildTar(t, []spec{
				{name: "a", kind: kindFile, size: 600 << 10},
				{name: "b", kind: kindFile, size: 600 << 10}, // a+b > 1 MiB
				{name: "c", kind: kindFile, size: 100 << 10}, // still fits
			})
		},
		ext:       "tar",
		limits:    Limits{MaxBytes: 1 << 20, MaxEntries: 10, MaxDecompressed: 1 << 30},
		extracted: []string{"a", "c"},
		refused:   []string{"b"},
	}, {
		name:      "entries",
		archive:   func(t testing.TB) []byte { return buildTar(t, many) },
		ext:       "tar",
		limits:    Limits{MaxBytes: 1 << 20, MaxEntries: 3, MaxDecompressed: 1 << 30},
		extracted: []string{"f00", "f01", "f02"},
		err:       ErrTooMany,
	}, {
		name:      "zip entries",
		archive:   func(t testing.TB) []byte { return buildZip(t, many) },
		ext:       "zip",
		limits:    Limits{MaxBytes: 1 << 20, MaxEntries: 2, MaxDecompressed: 1 << 30},
		extracted: []string{"f00", "f01"},
		err:       ErrTooMany,
	}, {
		// A zip's sizes are claims: this one claims 4 bytes and stores 2 MiB.
		name:      "zip lying about its size",
		archive:   lyingZip,
		ext:       "zip",
		limits:    Limits{MaxBytes: 1 << 20, MaxEntries: 10, MaxDecompressed: 1 << 30},
		extracted: []string{"honest.txt"},
		refused:   []string{"liar.bin"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t)
			archive := filepath.Join(s.base, "archive."+tc.ext)
			if err := os.WriteFile(archive, tc.archive(t), 0o644); err != nil {
				t.Fatal(err)
			}
			result, err := run(archive, s.dst, tc.limits)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("run: error %v, want %v", err, tc.err)
			}
			if got := strings.Join(result.Extracted, " "); got != strings.Join(tc.extracted, " ") {
				t.Errorf("extracted %q, want %q", got, tc.extracted)
			}
			var refused []string
			for _, r := range result.Refused {
				refused = append(refused, r.Name)
				t.Logf("refused %v", r)
			}
			if got := strings.Join(refused, " "); got != strings.Join(tc.refused, " ") {
				t.Errorf("refused %q, want %q", got, tc.refused)
			}
			entries, err := os.ReadDir(s.dst)
			if err != nil {
				t.Fatal(err)
			}
			var onDisk []string
			var total int64
			for _, e := range entries {
				onDisk = append(onDisk, e.Name())
				info, _ := e.Info()
				total += info.Size()
			}
			if got := strings.Join(onDisk, " "); got != strings.Join(tc.extracted, " ") {
				t.Errorf("destination holds %q, want exactly %q", got, tc.extracted)
			}
			if total > tc.limits.MaxBytes {
				t.Errorf("destination holds %d bytes, over the %d limit", total, tc.limits.MaxBytes)
			}
		})
	}
}

func lyingZip(t testing.TB) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("honest.txt")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("true"))
	big := make([]byte, 2<<20)
	// CreateRaw writes the header's sizes as given, not as measured.
	fh := &zip.FileHeader{Name: "liar.bin", Method: zip.Store,
		CompressedSize64: uint64(len(big)), UncompressedSize64: 4, CRC32: 0}
	fh.SetMode(0o644)
	w, err = zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(big)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
