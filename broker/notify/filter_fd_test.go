package notify

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

func TestAppendOnlyShape(t *testing.T) {
	cases := []struct {
		pairs []rights.Pair
		want  bool
	}{
		{nil, false},
		{[]rights.Pair{{Base: rights.ReadWrite, Inherit: rights.ReadWrite}, {Base: rights.ReadOnly, Inherit: rights.ReadOnly}}, false},
		{[]rights.Pair{{Base: rights.Lookup, Inherit: rights.Append | rights.Read}}, true},
		{[]rights.Pair{{Base: rights.Append, Inherit: rights.None}}, true},
		{[]rights.Pair{{Base: rights.Append | rights.Write, Inherit: rights.Append | rights.Write}}, false},
	}
	for i, c := range cases {
		tab := &grantTable{}
		for _, p := range c.pairs {
			tab.grants = append(tab.grants, &grant{Grant: Grant{Rights: p}})
		}
		if got := tab.appendOnly(); got != c.want {
			t.Errorf("case %d: appendOnly %v, want %v", i, got, c.want)
		}
	}
}

// ruleFor returns the action of the first fdRules rule for syscall name
// whose first condition compares argument index with value.
func ruleFor(rules []seccomp.Rule, name string, index int, value uint32) (seccomp.Action, bool) {
	for _, r := range rules {
		if len(r.Syscalls) == 1 && r.Syscalls[0] == name && len(r.Args) > 0 && r.Args[0].Index == index && r.Args[0].Value == value {
			return r.Action, true
		}
	}
	return 0, false
}

func TestFdRules(t *testing.T) {
	for _, sh := range []FilterShape{
		{Union: rights.ReadOnly},
		{Union: rights.ReadWrite},
		{Union: rights.ReadWrite, AppendOnly: true},
	} {
		rules := fdRules(sh)
		for _, req := range []uint32{fsIocSetflags, fsIoc32Setflags, fsIocFssetxattr} {
			want := seccomp.Notify
			if !sh.Union.Has(rights.XattrSet) {
				want = seccomp.Errno(unix.EPERM)
			}
			if got, found := ruleFor(rules, "ioctl", 1, req); !found || got != want {
				t.Errorf("%+v: ioctl %#x: %v (found %v), want %v", sh, req, got, found, want)
			}
		}
		_, setfl := ruleFor(rules, "fcntl", 1, unix.F_SETFL)
		if setfl != sh.AppendOnly {
			t.Errorf("%+v: F_SETFL notified %v, want %v", sh, setfl, sh.AppendOnly)
		}
		if _, err := FilterFor(sh).Assemble(); err != nil {
			t.Errorf("%+v: %v", sh, err)
		}
	}
	// Every conditionally served syscall has its handler, and stays
	// classified native (it is not in the unconditional Notify list).
	for _, s := range servedIf {
		if handlerByNr[s.nr] == nil {
			t.Errorf("%s: no handler", s.name)
		}
		for _, name := range Syscalls() {
			if name == s.name {
				t.Errorf("%s is notified unconditionally", s.name)
			}
		}
	}
}

// TestKernelRulesComeFirst: kernel mode's rules are the filter's first, so
// no other rule may name their syscalls before the Notify rule of the
// brokered filter does: the first rule that names each, brokered, must be
// that Notify rule (or openat2's, which kernel mode refuses).
func TestKernelRulesComeFirst(t *testing.T) {
	for _, sh := range []FilterShape{{}, {Union: rights.All, AppendOnly: true}, {Union: rights.All, Learn: true}} {
		brokered := FilterFor(sh).Rules
		for _, kr := range kernelRules(&KernelForms{Stat: true, Readlink: true}) {
			for _, name := range kr.Syscalls {
				for i, r := range brokered {
					if !slices.Contains(r.Syscalls, name) {
						continue
					}
					if r.Action != seccomp.Notify || len(r.Args) != 0 {
						t.Errorf("shape %+v: %s is first named by rule %d (%v), which kernel mode's rules would now precede", sh, name, i, r.Action)
					}
					break
				}
			}
		}
	}
}
