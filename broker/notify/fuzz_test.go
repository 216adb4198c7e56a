package notify

import (
	"encoding/binary"
	"path"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzMatch: whatever path a program sends, the grant chosen is a
// whole-component prefix of its clean form, and the rest never climbs or
// is absolute, so resolution always starts at the grant.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/data/x", "/data/../etc/shadow", "/database", "//data//sub/./y", "/", "/data/sub/../../x", "/usr/lib/../bin/sh", "relative/../../x"} {
		f.Add(s)
	}
	tbl := &grantTable{grants: []*grant{
		{names: []string{"/data"}},
		{names: []string{"/data/sub"}},
		{names: []string{"/lib", "/usr/lib"}},
	}}
	f.Fuzz(func(t *testing.T, p string) {
		abs := path.Clean("/" + p)
		g, rest := tbl.match(abs)
		if g == nil {
			return
		}
		if rest == "" || path.IsAbs(rest) || rest == ".." || strings.HasPrefix(rest, "../") || strings.Contains(rest, "/../") {
			t.Fatalf("match(%q) rest %q climbs or is absolute", abs, rest)
		}
		ok := false
		for _, name := range g.names {
			if rest == "." && abs == name || abs == path.Join(name, rest) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("match(%q) = %v, %q: not a prefix", abs, g.names, rest)
		}
	})
}

// FuzzDecodeOpenHow: no input panics, and what is accepted is what the
// kernel would accept.
func FuzzDecodeOpenHow(f *testing.F) {
	seed := func(flags, mode, resolve uint64, extra int) []byte {
		b := make([]byte, 24+extra)
		binary.NativeEndian.PutUint64(b[0:], flags)
		binary.NativeEndian.PutUint64(b[8:], mode)
		binary.NativeEndian.PutUint64(b[16:], resolve)
		return b
	}
	f.Add(seed(unix.O_RDONLY, 0, unix.RESOLVE_BENEATH, 0))
	f.Add(seed(unix.O_CREAT|unix.O_WRONLY, 0o644, 0, 8))
	f.Add(seed(unix.O_RDONLY, 0o644, 0, 0))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, raw []byte) {
		how, errno := decodeOpenHow(raw)
		if errno != 0 {
			return
		}
		if len(raw) < openHowSizeVer0 || how.Flags>>32 != 0 || how.Resolve&^knownResolveFlags != 0 || how.Mode > 0o7777 {
			t.Fatalf("accepted %+v from %d bytes", how, len(raw))
		}
	})
}
