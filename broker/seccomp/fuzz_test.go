package seccomp

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzAssemble builds filters from arbitrary bytes and checks the program
// against the Filter's meaning: every syscall gets the action of the first
// rule naming it, or the default. It exercises the third-party assembler
// on rule shapes the hand-written tests do not, long jumps included.
func FuzzAssemble(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{7, 200, 13, 13, 255, 0, 9, 80, 81, 82, 83, 84, 85})
	f.Add(make([]byte, 600))

	var names []string
	for name := range native.SyscallNames {
		names = append(names, name)
	}
	slices.Sort(names)
	actions := []Action{Allow, Notify, KillProcess, Log, Errno(unix.EPERM), Errno(unix.EACCES), Errno(unix.ENOSYS)}

	f.Fuzz(func(t *testing.T, data []byte) {
		// data: default action, then per rule: action, count, names.
		if len(data) == 0 {
			return
		}
		filter := Filter{Default: actions[int(data[0])%len(actions)]}
		for rest := data[1:]; len(rest) >= 2; {
			action, count := actions[int(rest[0])%len(actions)], int(rest[1])%64
			rest = rest[2:]
			rule := Rule{Action: action}
			for ; count > 0 && len(rest) >= 2; count-- {
				rule.Syscalls = append(rule.Syscalls, names[(int(rest[0])<<8|int(rest[1]))%len(names)])
				rest = rest[2:]
			}
			filter.Rules = append(filter.Rules, rule)
		}
		prog, err := filter.Assemble()
		if err != nil {
			if strings.Contains(err.Error(), "the kernel takes at most") {
				return // too long: refused, not mis-assembled
			}
			t.Fatal(err)
		}
		run := simulator(t, prog)
		want := map[string]Action{}
		for _, r := range filter.Rules {
			for _, name := range r.Syscalls {
				if _, seen := want[name]; !seen {
					want[name] = r.Action
				}
			}
		}
		for _, name := range names {
			expected, ok := want[name]
			if !ok {
				expected = filter.Default
			}
			if got := run(uint32(native.ID), nr(t, name)); got != expected {
				t.Fatalf("%s: got %s, want %s", name, got, expected)
			}
		}
	})
}
