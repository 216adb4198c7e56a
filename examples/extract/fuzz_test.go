package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// FuzzExtractTar feeds arbitrary bytes to the tar extractor. Whatever the
// input: no panic, nothing outside the destination changes, no symlink
// out of it and no special file is left in it, the data written stays
// under the limit, and no descriptor leaks.
func FuzzExtractTar(f *testing.F) {
	// The hostile archive without its bomb: a multi-megabyte seed would
	// make every mutation slow.
	var small []spec
	for _, s := range hostile("/tmp/capfd-fuzz-outside") {
		if s.size == 0 {
			small = append(small, s)
		}
	}
	hostileTar := buildTar(f, small)
	f.Add(hostileTar)
	f.Add(hostileTar[:len(hostileTar)/2])
	f.Add(buildTar(f, []spec{
		{name: "a/", kind: kindDir},
		{name: "a/l", kind: kindSymlink, body: ".."},
		{name: "a/l/b", kind: kindFile, body: "x"},
		{name: "h", kind: kindHardlink, body: "a/l/../../outside/x"},
	}))
	f.Add(buildTar(f, []spec{{name: "z", kind: kindFile, size: 70000}}))
	f.Add([]byte{})

	limits := Limits{MaxBytes: 64 << 10, MaxEntries: 64, MaxDecompressed: 1 << 20}
	f.Fuzz(func(t *testing.T, archive []byte) {
		s := newScene(t)
		fds := openFds(t)
		dst, err := openDest(s.dst)
		if err != nil {
			t.Fatal(err)
		}
		result, _ := extractTar(dst, bytes.NewReader(archive), limits)
		dst.Close()
		if after := openFds(t); after != fds {
			t.Errorf("%d fds open after extracting, %d before", after, fds)
		}
		if len(result.Extracted) > limits.MaxEntries {
			t.Errorf("%d entries extracted, limit %d", len(result.Extracted), limits.MaxEntries)
		}
		if changes := s.outsideChanges(t); len(changes) > 0 {
			t.Errorf("the archive changed the outside: %v", changes)
		}
		if links := s.linksOut(t); len(links) > 0 {
			t.Errorf("symlinks out of the destination: %v", links)
		}
		var total int64
		seen := map[uint64]bool{} // hard links: count each file once
		filepath.WalkDir(s.dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			switch {
			case info.Mode().IsRegular():
				if ino := info.Sys().(*syscall.Stat_t).Ino; !seen[ino] {
					seen[ino] = true
					total += info.Size()
				}
				if info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
					t.Errorf("%s: extracted with mode %v", p, info.Mode())
				}
			case info.IsDir(), info.Mode()&fs.ModeSymlink != 0:
			default:
				t.Errorf("%s: special file extracted (%v)", p, info.Mode())
			}
			return nil
		})
		if total > limits.MaxBytes {
			t.Errorf("%d bytes in the destination, limit %d", total, limits.MaxBytes)
		}
		os.RemoveAll(s.dst)
	})
}
