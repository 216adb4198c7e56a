package vfsops

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

func TestRequestNeeds(t *testing.T) {
	const L = rights.Lookup
	for _, tc := range []struct {
		name string
		req  Request
		want map[Operand]rights.Rights
	}{
		{"stat", Request{Op: OpStat}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Stat}},
		{"chmod", Request{Op: OpChmod}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Chmod}},
		{"open rdonly file", Request{Op: OpOpen, Flags: unix.O_RDONLY}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Read}},
		{"open rdonly dir", Request{Op: OpOpen, Flags: unix.O_RDONLY, IsDir: true}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Readdir}},
		{"open O_DIRECTORY", Request{Op: OpOpen, Flags: unix.O_RDONLY | unix.O_DIRECTORY, IsDir: true}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Readdir}},
		{"open append", Request{Op: OpOpen, Flags: unix.O_WRONLY | unix.O_APPEND}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Append}},
		{"open creat trunc", Request{Op: OpOpen, Flags: unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC}, map[Operand]rights.Rights{OnDir: L | rights.Create, OnObject: rights.Read | rights.Write | rights.Truncate}},
		{"open mode 3", Request{Op: OpOpen, Flags: unix.O_ACCMODE}, map[Operand]rights.Rights{OnDir: L, OnObject: rights.Ioctl}},
		{"open O_PATH", Request{Op: OpOpen, Flags: unix.O_PATH | unix.O_RDWR}, map[Operand]rights.Rights{OnDir: L, OnObject: L}},
		{"open O_TMPFILE", Request{Op: OpOpen, Flags: unix.O_TMPFILE | unix.O_RDWR}, map[Operand]rights.Rights{OnDir: L | rights.Create, OnObject: rights.Read | rights.Write}},
		{"rename fresh", Request{Op: OpRename}, map[Operand]rights.Rights{OnSourceDir: L | rights.RenameFrom, OnTargetDir: L | rights.RenameTo}},
		{"rename over", Request{Op: OpRename, Replaces: true}, map[Operand]rights.Rights{OnSourceDir: L | rights.RenameFrom, OnTargetDir: L | rights.RenameTo | rights.Unlink}},
		{"rename noreplace", Request{Op: OpRename, Flags: unix.RENAME_NOREPLACE, Replaces: true}, map[Operand]rights.Rights{OnSourceDir: L | rights.RenameFrom, OnTargetDir: L | rights.RenameTo}},
		{"rename exchange", Request{Op: OpRename, Flags: unix.RENAME_EXCHANGE, Replaces: true}, map[Operand]rights.Rights{OnSourceDir: L | rights.RenameFrom | rights.RenameTo, OnTargetDir: L | rights.RenameFrom | rights.RenameTo}},
		{"link", Request{Op: OpLink}, map[Operand]rights.Rights{OnSourceDir: L | rights.LinkFrom, OnTargetDir: L | rights.LinkTo}},
		{"unknown", Request{Op: OpInvalid}, map[Operand]rights.Rights{OnHandle: rights.All}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[Operand]rights.Rights{}
			for _, n := range tc.req.Needs() {
				if _, dup := got[n.Operand]; dup {
					t.Errorf("operand %v listed twice", n.Operand)
				}
				got[n.Operand] = n.Rights
			}
			if len(got) != len(tc.want) {
				t.Errorf("Needs() = %v, want %v", got, tc.want)
			}
			for on, w := range tc.want {
				if got[on] != w {
					t.Errorf("on %v: %v, want %v", on, got[on], w)
				}
				if tc.req.On(on) != w {
					t.Errorf("On(%v) = %v, want %v", on, tc.req.On(on), w)
				}
			}
			if m := tc.req.Missing(got); m != 0 {
				t.Errorf("Missing(own needs) = %v", m)
			}
		})
	}
}

// A pair's own directory holds Base and everything beneath Inherit; lookup
// beneath needs lookup in Base too.
func TestPairPlaces(t *testing.T) {
	p := rights.Pair{Base: rights.Lookup | rights.Unlink, Inherit: rights.Lookup | rights.Stat}
	if p.Object(true) != p.Base || p.Object(false) != p.Inherit {
		t.Errorf("Object: %v %v", p.Object(true), p.Object(false))
	}
	if p.Dir(true) != p.Base || p.Dir(false) != p.Inherit {
		t.Errorf("Dir: %v %v", p.Dir(true), p.Dir(false))
	}
	noLookup := rights.Pair{Base: rights.Stat, Inherit: rights.Lookup | rights.Unlink}
	if got := noLookup.Dir(false); got != rights.Unlink {
		t.Errorf("Dir beneath a base without lookup = %v, want unlink only", got)
	}
	req := Request{Op: OpUnlink}
	if m := req.Missing(map[Operand]rights.Rights{OnDir: noLookup.Dir(false)}); m != rights.Lookup {
		t.Errorf("unlink x/a through %v: missing %v, want lookup", noLookup, m)
	}
}

// Only a read-mode open that names no type depends on its object's type.
func TestDependsOnType(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want bool
	}{
		{Request{Op: OpOpen, Flags: unix.O_RDONLY}, true},
		{Request{Op: OpOpen, Flags: unix.O_RDONLY | unix.O_TRUNC}, true},
		{Request{Op: OpOpen, Flags: unix.O_RDONLY | unix.O_DIRECTORY}, false},
		{Request{Op: OpOpen, Flags: unix.O_RDONLY | unix.O_PATH}, false},
		{Request{Op: OpOpen, Flags: unix.O_RDONLY, IsDir: true}, false},
		{Request{Op: OpOpen, Flags: unix.O_WRONLY}, false},
		{Request{Op: OpOpen, Flags: unix.O_RDWR}, false},
		{Request{Op: OpStat}, false},
	} {
		if got := tc.req.DependsOnType(); got != tc.want {
			t.Errorf("%+v: DependsOnType = %v, want %v", tc.req, got, tc.want)
		}
		// Where it does, the two types need different rights.
		if tc.want {
			file, _ := OpenRightsOn(tc.req.Flags, false)
			dir, _ := OpenRightsOn(tc.req.Flags, true)
			if file == dir {
				t.Errorf("%+v: file and directory need the same %v", tc.req, file)
			}
		}
	}
}

// TestChownThatKeepsOwner: a chown to the owner and group the object has
// needs chmod, not chown (its only effects are a chmod's).
func TestChownThatKeepsOwner(t *testing.T) {
	for _, tc := range []struct {
		req     Request
		operand Operand
		want    rights.Rights
	}{
		{Request{Op: OpChown}, OnObject, rights.Chown},
		{Request{Op: OpChown, KeepsOwner: true}, OnObject, rights.Chmod},
		{Request{Op: OpFchown}, OnHandle, rights.Chown},
		{Request{Op: OpFchown, KeepsOwner: true}, OnHandle, rights.Chmod},
		{Request{Op: OpChmod, KeepsOwner: true}, OnObject, rights.Chmod}, // other ops ignore it
	} {
		if got := tc.req.On(tc.operand); got != tc.want {
			t.Errorf("%+v on %v = %v, want %v", tc.req, tc.operand, got, tc.want)
		}
	}
	for _, tc := range []struct {
		uid, gid   int
		ouid, ogid uint32
		keeps      bool
	}{
		{-1, -1, 5, 6, true}, {5, -1, 5, 6, true}, {-1, 6, 5, 6, true}, {5, 6, 5, 6, true},
		{7, -1, 5, 6, false}, {-1, 7, 5, 6, false}, {5, 7, 5, 6, false},
	} {
		if got := KeepsOwner(tc.uid, tc.gid, tc.ouid, tc.ogid); got != tc.keeps {
			t.Errorf("KeepsOwner(%d, %d, %d, %d) = %v", tc.uid, tc.gid, tc.ouid, tc.ogid, got)
		}
	}
}
