package vfsops

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

func TestEveryOpHasNameAndRequirements(t *testing.T) {
	seen := map[string]Op{}
	for _, op := range Ops() {
		name := op.String()
		if name == "" || opTable[op].name == "" {
			t.Errorf("op %d has no name", op)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("ops %d and %d share the name %q", prev, op, name)
		}
		seen[name] = op
		if back, err := ParseOp(name); err != nil || back != op {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", name, back, err, op)
		}
		reqs := op.Requirements()
		if len(reqs) == 0 {
			t.Errorf("%v has no requirements", op)
		}
		operands := map[Operand]bool{}
		for _, req := range reqs {
			if req.Rights == 0 || req.Rights.Unknown() != 0 {
				t.Errorf("%v: requirement %v has no or unknown rights", op, req)
			}
			if operands[req.Operand] {
				t.Errorf("%v: operand %v listed twice", op, req.Operand)
			}
			operands[req.Operand] = true
			if req.Operand == OnObject && !op.Needs(OnDir).Has(rights.Lookup) {
				t.Errorf("%v: names an object by path but needs no lookup in its directory", op)
			}
			// Every operation that resolves a path needs Lookup in the
			// directories it resolves in (the object it reaches is
			// looked up, not looked up in).
			if req.Operand != OnHandle && req.Operand != OnObject && !req.Rights.Has(rights.Lookup) {
				t.Errorf("%v: %v resolves a path but does not need lookup", op, req)
			}
		}
	}
	if len(Ops()) != int(opEnd)-1 {
		t.Errorf("Ops() has %d ops, the table %d", len(Ops()), opEnd-1)
	}
	// Mutating the returned slice must not change the table.
	reqs := OpRead.Requirements()
	reqs[0].Rights = rights.All
	if OpRead.Needs(OnHandle) != rights.Read {
		t.Fatal("Requirements returned the table itself")
	}
}

func TestOpRequirements(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want []Requirement
	}{
		{OpRead, []Requirement{{OnHandle, rights.Read}}},
		{OpAppend, []Requirement{{OnHandle, rights.Append}}},
		{OpPread, []Requirement{{OnHandle, rights.Read | rights.Seek}}},
		{OpMkdir, []Requirement{{OnDir, rights.Lookup | rights.Mkdir}}},
		{OpRmdir, []Requirement{{OnDir, rights.Lookup | rights.Unlink}}},
		{OpRename, []Requirement{{OnSourceDir, rights.Lookup | rights.RenameFrom}, {OnTargetDir, rights.Lookup | rights.RenameTo}}},
		{OpLink, []Requirement{{OnSourceDir, rights.Lookup | rights.LinkFrom}, {OnTargetDir, rights.Lookup | rights.LinkTo}}},
		{OpExec, []Requirement{{OnHandle, rights.Exec}}},
	} {
		got := tc.op.Requirements()
		if len(got) != len(tc.want) {
			t.Errorf("%v: %v, want %v", tc.op, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v: %v, want %v", tc.op, got, tc.want)
			}
		}
	}
}

func TestInvalidOpFailsClosed(t *testing.T) {
	for _, op := range []Op{OpInvalid, opEnd, 9999} {
		if op.Valid() {
			t.Errorf("%d valid", op)
		}
		if r := op.Needs(OnHandle); r != rights.All {
			t.Errorf("%v needs %v, want all", op, r)
		}
		if _, err := op.MarshalText(); err == nil {
			t.Errorf("%v marshals", op)
		}
	}
	if _, err := ParseOp("frobnicate"); err == nil {
		t.Error("ParseOp accepted an unknown name")
	}
	var op Op
	if err := op.UnmarshalText([]byte("mkdir")); err != nil || op != OpMkdir {
		t.Errorf("UnmarshalText(mkdir) = %v, %v", op, err)
	}
}

func TestOpenRights(t *testing.T) {
	L, R, W, A, T, C, D := rights.Lookup, rights.Read, rights.Write, rights.Append, rights.Truncate, rights.Create, rights.Readdir
	for _, tc := range []struct {
		name      string
		flags     int
		file, dir rights.Rights
	}{
		{"rdonly", unix.O_RDONLY, R, L},
		{"wronly", unix.O_WRONLY, W, L},
		{"rdwr", unix.O_RDWR, R | W, L},
		{"append-only", unix.O_WRONLY | unix.O_APPEND, A, L},
		{"read-append", unix.O_RDWR | unix.O_APPEND, R | A, L},
		{"rdonly-append-needs-no-append", unix.O_RDONLY | unix.O_APPEND, R, L},
		{"trunc", unix.O_WRONLY | unix.O_TRUNC, W | T, L},
		{"rdonly-trunc-still-truncates", unix.O_RDONLY | unix.O_TRUNC, R | T, L},
		{"create", unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, W, L | C},
		{"create-trunc", unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC, R | W | T, L | C},
		{"tmpfile", unix.O_RDWR | unix.O_TMPFILE, R | W, L | C},
		{"directory", unix.O_RDONLY | unix.O_DIRECTORY, D, L},
		{"path", unix.O_PATH, L, L},
		{"path-ignores-the-rest", unix.O_PATH | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC, L, L},
		{"path-directory", unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW, L, L},
		{"ioctl-only-mode", 3, rights.Ioctl, L},
		{"harmless-flags", unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_SYNC | unix.O_NOATIME, R, L},
	} {
		file, dir := OpenRights(tc.flags)
		if file != tc.file || dir != tc.dir {
			t.Errorf("%s (%#x): file %v dir %v, want file %v dir %v", tc.name, tc.flags, file, dir, tc.file, tc.dir)
		}
	}
}

// openFlagBits are the flags OpenRights looks at, plus ones it must ignore.
var openFlagBits = []int{unix.O_APPEND, unix.O_TRUNC, unix.O_CREAT, unix.O_EXCL, unix.O_DIRECTORY,
	unix.O_NOFOLLOW, unix.O_CLOEXEC, unix.O_NONBLOCK, unix.O_SYNC, unix.O_TMPFILE &^ unix.O_DIRECTORY}

// Properties over every access mode and every combination of flag bits.
func TestOpenRightsAllCombinations(t *testing.T) {
	for mode := 0; mode <= 3; mode++ {
		for set := 0; set < 1<<len(openFlagBits); set++ {
			flags := mode
			for i, bit := range openFlagBits {
				if set&(1<<i) != 0 {
					flags |= bit
				}
			}
			file, dir := OpenRights(flags)
			check := func(cond bool, what string) {
				if !cond {
					t.Errorf("flags %#x (file %v, dir %v): %s", flags, file, dir, what)
				}
			}
			check(dir.Has(rights.Lookup), "dir needs lookup")
			check(file != 0, "the file needs some right")
			creates := flags&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0
			check(dir.Has(rights.Create) == creates, "create on the dir iff O_CREAT/O_TMPFILE")
			check(file.Has(rights.Truncate) == (flags&unix.O_TRUNC != 0), "truncate iff O_TRUNC")
			writable := mode == unix.O_WRONLY || mode == unix.O_RDWR
			appendMode := flags&unix.O_APPEND != 0
			check(file.Has(rights.Write) == (writable && !appendMode), "write iff writable without O_APPEND")
			check(file.Has(rights.Append) == (writable && appendMode), "append iff writable with O_APPEND")
			readable := mode == unix.O_RDONLY || mode == unix.O_RDWR
			if readable {
				check(file.Has(rights.Read) || file.Has(rights.Readdir), "readable modes need read or readdir")
			} else {
				check(!file.Has(rights.Read) && !file.Has(rights.Readdir), "write-only modes need no read")
			}
			// Adding O_PATH strips everything to lookup.
			pf, pd := OpenRights(flags | unix.O_PATH)
			check(pf == rights.Lookup && pd == rights.Lookup, "O_PATH needs lookup only")
		}
	}
}

// AccessModeFor never hands out a mode whose rights the holder lacks, and
// hands out the widest one it may have.
func TestAccessModeFor(t *testing.T) {
	dataRights := []rights.Rights{rights.Read, rights.Write, rights.Append, rights.Readdir, rights.Truncate, rights.Lookup}
	for set := 0; set < 1<<len(dataRights); set++ {
		var r rights.Rights
		for i, b := range dataRights {
			if set&(1<<i) != 0 {
				r |= b
			}
		}
		flags, ok := AccessModeFor(r)
		if !ok {
			if flags != unix.O_PATH {
				t.Errorf("%v: not ok but flags %#x", r, flags)
			}
			if r.Has(rights.Read) || r.Has(rights.Write) || r.Has(rights.Append) || r.Has(rights.Readdir) {
				t.Errorf("%v: data rights but no access mode", r)
			}
			continue
		}
		file, _ := OpenRights(flags)
		if !r.Has(file) {
			t.Errorf("%v: AccessModeFor gives %#x, which needs %v", r, flags, file)
		}
		acc := flags & unix.O_ACCMODE
		if r.Has(rights.Read) && acc == unix.O_WRONLY {
			t.Errorf("%v: read right but write-only mode", r)
		}
		if (r.Has(rights.Write) || r.Has(rights.Append)) && acc == unix.O_RDONLY {
			t.Errorf("%v: write right but read-only mode", r)
		}
	}
	for _, tc := range []struct {
		r     rights.Rights
		flags int
	}{
		{rights.Read, unix.O_RDONLY},
		{rights.Read | rights.Write, unix.O_RDWR},
		{rights.Write | rights.Append, unix.O_WRONLY},
		{rights.Append, unix.O_WRONLY | unix.O_APPEND},
		{rights.Read | rights.Append, unix.O_RDWR | unix.O_APPEND},
		{rights.Readdir | rights.Lookup, unix.O_RDONLY | unix.O_DIRECTORY},
		{rights.ReadOnly, unix.O_RDONLY},
		{rights.ReadWrite, unix.O_RDWR},
	} {
		if flags, ok := AccessModeFor(tc.r); !ok || flags != tc.flags {
			t.Errorf("AccessModeFor(%v) = %#x, %v; want %#x", tc.r, flags, ok, tc.flags)
		}
	}
}

// FuzzParseOp: any input either fails or names an op that formats back to
// exactly that input.
func FuzzParseOp(f *testing.F) {
	for _, op := range Ops() {
		f.Add(op.String())
	}
	f.Add("")
	f.Add("OPEN")
	f.Add("open\x00")
	f.Fuzz(func(t *testing.T, s string) {
		op, err := ParseOp(s)
		if err != nil {
			if op != OpInvalid {
				t.Fatalf("ParseOp(%q) failed but returned %v", s, op)
			}
			return
		}
		if !op.Valid() || op.String() != s {
			t.Fatalf("ParseOp(%q) = %v (%q)", s, op, op.String())
		}
	})
}
