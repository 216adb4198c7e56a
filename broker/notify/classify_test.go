package notify

import (
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/seccomp"
)

// classes is every classification of classify.go, by name.
func classes() map[string][]string {
	return map[string][]string{
		"notified":     Syscalls(),
		"refused":      Refused(),
		"mount family": seccomp.DenyMountFamily().Syscalls,
		"native":       groupNames(nativeSyscalls),
		"denied":       groupNames(deniedSyscalls),
		"obsolete":     obsoleteSyscalls.names,
	}
}

// TestEverySyscallClassified: each syscall of the architecture's table is
// in exactly one class, and every classified name is a syscall (a typo
// would leave its syscall at the default). A new syscall in a new seccomp
// library fails here until someone decides its fate.
func TestEverySyscallClassified(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the supervisor is amd64-only")
	}
	table := seccomp.Table()
	in := map[string][]string{}
	for class, names := range classes() {
		for _, name := range names {
			if _, ok := table[name]; !ok && !slices.Contains(Refused(), name) {
				t.Errorf("%s names %q, which is no syscall of this architecture", class, name)
			}
			in[name] = append(in[name], class)
		}
	}
	for name := range table {
		switch c := in[name]; len(c) {
		case 0:
			t.Errorf("syscall %s (%d) is not classified: add it to classify.go", name, table[name])
		case 1:
		default:
			t.Errorf("syscall %s is in several classes: %v", name, c)
		}
	}
	for nr, name := range beyondTable {
		if got, ok := table[name]; ok {
			t.Errorf("%s is now in the library's table (as %d): classify it there, not in beyondTable (%d)", name, got, nr)
		}
	}
}

// TestKernelSyscallsBeyondTable probes the running kernel for syscall
// numbers above the library's table: each one it implements (anything but
// ENOSYS for junk arguments: a bad descriptor, an unmapped address) must be
// in beyondTable, where its ENOSYS answer under the filter is argued. This
// is what failed open before: file_setattr (469) was unknown and allowed.
func TestKernelSyscallsBeyondTable(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the supervisor is amd64-only")
	}
	highest := 0
	for _, nr := range seccomp.Table() {
		highest = max(highest, nr)
	}
	// 512-547 are the x32 ABI's; without the x32 bit they are not syscalls.
	junk := ^uintptr(0)
	for nr := highest + 1; nr < 1024; nr++ {
		_, _, errno := unix.RawSyscall6(uintptr(nr), junk, junk, junk, junk, junk, junk)
		if errno == unix.ENOSYS {
			continue
		}
		if _, ok := beyondTable[nr]; !ok {
			t.Errorf("the running kernel implements syscall %d (%v for junk arguments), which the filter cannot name: add it to beyondTable with its reason", nr, errno)
		}
	}
}

// TestFilterDefaultIsENOSYS: the filter is an allow-list.
func TestFilterDefaultIsENOSYS(t *testing.T) {
	f := Filter(0)
	if f.Default != seccomp.Errno(unix.ENOSYS) {
		t.Fatalf("default action %v, want ENOSYS", f.Default)
	}
	if _, err := f.Assemble(); err != nil {
		t.Fatal(err)
	}
}
