package rights

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEveryRightHasAUniqueName(t *testing.T) {
	if got, want := len(names), All.Count(); got != want {
		t.Fatalf("%d names for %d rights", got, want)
	}
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			t.Errorf("name %q used twice", n)
		}
		seen[n] = true
		r, ok := ByName(n)
		if !ok || r != 1<<i {
			t.Errorf("ByName(%q) = %v, %v; want bit %d", n, r, ok, i)
		}
		if _, isGroup := groups[n]; isGroup {
			t.Errorf("right %q shadows a group", n)
		}
	}
}

// The bit positions are ABI (wire protocol, BPF maps): pin a few.
func TestBitPositionsAreStable(t *testing.T) {
	for _, tc := range []struct {
		r   Rights
		bit uint
	}{{Lookup, 0}, {Read, 1}, {Write, 2}, {Truncate, 6}, {Exec, 7}, {Chmod, 18}, {Mount, 27}, {Connect, 28}} {
		if tc.r != 1<<tc.bit {
			t.Errorf("%v is %#x, want bit %d", tc.r, uint64(tc.r), tc.bit)
		}
	}
	if All != 1<<29-1 {
		t.Errorf("All = %#x", uint64(All))
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rights
		err  bool
	}{
		{"", None, false},
		{"none", None, false},
		{"read", Read, false},
		{"read,write,lookup", Read | Write | Lookup, false},
		{" read , write ", Read | Write, false},
		{"all", All, false},
		{"ro", ReadOnly, false},
		{"rw,exec", ReadWrite | Exec, false},
		{"rw,-unlink", ReadWrite &^ Unlink, false},
		{"all,-mount,-ioctl", All &^ (Mount | Ioctl), false},
		{"rename-from,rename-to", RenameFrom | RenameTo, false},
		{"0x10000000", 1 << 28, false},
		{"read,0x30000000", Read | 3<<28, false},
		{"reed", 0, true},
		{"read,", 0, true},
		{",read", 0, true},
		{"-", 0, true},
		{"0xzz", 0, true},
		{"0x", 0, true},
		{"READ", 0, true},
		{strings.Repeat("read,", 1000), 0, true},
	} {
		got, err := Parse(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("Parse(%.40q) = %v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := Parse("bogus"); !errors.Is(err, ErrUnknownRight) {
		t.Errorf("Parse(bogus) error %v does not wrap ErrUnknownRight", err)
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   Rights
		want string
	}{
		{None, "none"},
		{All, "all"},
		{Read, "read"},
		{Lookup | Read | Write, "lookup,read,write"},
		{RenameTo | 1<<40, "rename-to,0x10000000000"},
		{1 << 63, "0x8000000000000000"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%#x.String() = %q, want %q", uint64(tc.in), got, tc.want)
		}
	}
}

func TestAlgebra(t *testing.T) {
	r := Read | Write | Stat
	if !r.Has(Read|Stat) || r.Has(Read|Exec) {
		t.Error("Has")
	}
	if got := r.Missing(Read | Exec | Mount); got != Exec|Mount {
		t.Errorf("Missing = %v", got)
	}
	if r.Union(Exec) != r|Exec || r.Intersect(Read|Exec) != Read || r.Without(Write) != Read|Stat {
		t.Error("Union/Intersect/Without")
	}
	// Limit never adds rights, whatever the ceiling.
	for _, ceiling := range []Rights{None, Read, All, All | 1<<60} {
		if got := r.Limit(ceiling); got&^r != 0 {
			t.Errorf("%v.Limit(%v) = %v gained rights", r, ceiling, got)
		}
	}
}

func TestGroupsNest(t *testing.T) {
	if !ReadExec.Has(ReadOnly) || !ReadWrite.Has(ReadOnly) {
		t.Error("rx and rw must include ro")
	}
	if ReadOnly.Has(Write) || ReadOnly.Has(Truncate) || ReadOnly.Has(Append) {
		t.Error("ro must not write")
	}
	if ReadWrite.Has(Exec) || ReadWrite.Has(Mount) || ReadWrite.Has(Chown) {
		t.Error("rw must not grant exec, mount or chown implicitly")
	}
}

func TestPair(t *testing.T) {
	p, err := ParsePair("ro,create:ro")
	if err != nil {
		t.Fatal(err)
	}
	if p.Base != ReadOnly|Create || p.Inherit != ReadOnly {
		t.Fatalf("ParsePair = %+v", p)
	}
	if q, _ := ParsePair("rw"); q != Uniform(ReadWrite) {
		t.Errorf("ParsePair(rw) = %v", q)
	}
	child := p.Child(Uniform(All))
	if child != Uniform(ReadOnly) {
		t.Errorf("Child(all) = %v, want ro", child)
	}
	if got := Uniform(All).Limit(p); got != p {
		t.Errorf("Limit = %v", got)
	}
	if s := p.String(); s != "lookup,read,seek,stat,create,readlink,readdir,xattr-get,lock:lookup,read,seek,stat,readlink,readdir,xattr-get,lock" {
		t.Errorf("String = %q", s)
	}
	for _, bad := range []string{"nope", "ro:nope", "ro:"} {
		if _, err := ParsePair(bad); err == nil {
			t.Errorf("ParsePair(%q) accepted", bad)
		}
	}
}

func TestQuery(t *testing.T) {
	a := Query(Read | Write | 1<<30 | 1<<63)
	if a.Supported != Read|Write || a.Unknown != 1<<30|1<<63 || a.Complete() {
		t.Errorf("Query = %+v", a)
	}
	if !Query(All).Complete() {
		t.Error("All must be complete")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	type doc struct {
		R Rights `json:"r"`
		P Pair   `json:"p"`
	}
	in := doc{R: Read | Exec | 1<<50, P: Pair{Base: ReadOnly, Inherit: Read}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"r":"read,exec,0x4000000000000"`) {
		t.Errorf("JSON = %s", b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip: %+v, %v (from %s)", out, err, b)
	}
	if err := json.Unmarshal([]byte(`{"r":"fly"}`), &out); err == nil {
		t.Error("unknown name accepted from JSON")
	}
}

// FuzzParse: no input panics, and whatever parses formats back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "read", "rw,-unlink", "all", "0xffff", "ro:rw", "-", ",,", "read,0x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %#x -> %q -> %#x, %v", s, uint64(r), r.String(), uint64(back), err)
		}
		_, _ = ParsePair(s)
	})
}

// TestSuggest: an unknown name is answered with capfd's spelling of what
// it most likely means, and that spelling parses.
func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rwx", "rw,rx"},
		{"rox", "rx"},
		{"r-x", "rx"},
		{"rw-", "rw"},
		{"r--", "ro"},
		{"RWX", "rw,rx"},
		{"x", "exec"},
		{"execute", "exec"},
		{"read-only", "ro"},
		{"rename", "rename-from,rename-to"},
		{"raed", "read"},
		{"mkdri", "mkdir"},
		{"xattr-gett", "xattr-get"},
		{"symlnk", "symlink"},
		{"fly", ""},
		{"zzzzzz", ""},
	} {
		got := Suggest(tc.in)
		if got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got == "" {
			if _, err := Parse(tc.in); err == nil || strings.Contains(err.Error(), "did you mean") {
				t.Errorf("Parse(%q): %v, want an unknown right with no suggestion", tc.in, err)
			}
			continue
		}
		if _, err := Parse(got); err != nil {
			t.Errorf("Suggest(%q) = %q, which does not parse: %v", tc.in, got, err)
		}
		_, err := Parse("lookup," + tc.in)
		want := `(did you mean "` + got + `"?)`
		if !errors.Is(err, ErrUnknownRight) || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("Parse(lookup,%s): %v, want ErrUnknownRight ending %s", tc.in, err, want)
		}
	}
}
