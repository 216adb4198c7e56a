package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/capfd/capfd/capfd"
)

// fuzzLimits are small, so a mutated archive cannot make an iteration slow.
var fuzzLimits = Limits{MaxBytes: 64 << 10, MaxEntries: 64, MaxDecompressed: 1 << 20}

// smallHostile is the hostile archive without its bomb: a multi-megabyte
// seed would make every mutation slow.
func smallHostile() []spec {
	var small []spec
	for _, s := range hostile("/tmp/capfd-fuzz-outside") {
		if s.size == 0 {
			small = append(small, s)
		}
	}
	return small
}

// FuzzExtractTar feeds arbitrary bytes to the tar extractor. Whatever the
// input: no panic, nothing outside the destination changes, no symlink
// out of it and no special file is left in it, the data written stays
// under the limit, and no descriptor leaks.
func FuzzExtractTar(f *testing.F) {
	hostileTar := buildTar(f, smallHostile())
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
	f.Fuzz(func(t *testing.T, archive []byte) {
		fuzzOne(t, func(dst *capfd.Dir) { extractTar(dst, bytes.NewReader(archive), fuzzLimits) })
	})
}

// FuzzExtractZip is FuzzExtractTar for zip archives, whose sizes and
// modes are claims the extractor must not trust.
func FuzzExtractZip(f *testing.F) {
	var zippable []spec
	for _, s := range smallHostile() {
		if !s.tarOnly {
			zippable = append(zippable, s)
		}
	}
	hostileZip := buildZip(f, zippable)
	f.Add(hostileZip)
	f.Add(hostileZip[len(hostileZip)/2:])
	f.Add(lyingZip(f))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, archive []byte) {
		fuzzOne(t, func(dst *capfd.Dir) {
			extractZip(dst, bytes.NewReader(archive), int64(len(archive)), fuzzLimits)
		})
	})
}

// fuzzOne runs extract on a fresh destination and checks the invariants.
func fuzzOne(t *testing.T, extract func(*capfd.Dir)) {
	s := newScene(t)
	fds := openFds(t)
	dst, err := openDest(s.dst)
	if err != nil {
		t.Fatal(err)
	}
	extract(dst)
	dst.Close()
	if after := openFds(t); after != fds {
		t.Errorf("%d fds open after extracting, %d before", after, fds)
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
	if total > fuzzLimits.MaxBytes {
		t.Errorf("%d bytes in the destination, limit %d", total, fuzzLimits.MaxBytes)
	}
	os.RemoveAll(s.dst)
}
