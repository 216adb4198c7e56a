package notify

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

// FilterShape is what the seccomp filter needs to know of the grants.
type FilterShape struct {
	// Union is every right any grant carries: syscalls needing one no
	// grant has are refused in the kernel (seccomp.RulesFor).
	Union rights.Rights `json:"union"`
	// AppendOnly: some grant gives append without write, so O_APPEND must
	// stay in force on some descriptors (F_SETFL, RWF_NOAPPEND,
	// fallocate's punching modes, shared writable mappings).
	AppendOnly bool `json:"append_only"`
	// Ambient is what capability mode gives back beyond files
	// (capmode.Rules); the zero Policy gives back nothing.
	Ambient capmode.Policy `json:"ambient"`
	// Learn notifies execve and execveat too, only to record what runs
	// (learn.go).
	Learn bool `json:"learn"`
	// Kernel, in kernel mode, are the path syscall families the kernel
	// answers in the program's view (kernelmode.go); nil in the brokered
	// mode.
	Kernel *KernelForms `json:"kernel,omitempty"`
}

// Shape is the FilterShape of the supervisor's grants.
func (s *Supervisor) Shape() FilterShape {
	return FilterShape{Union: s.grants.union(), AppendOnly: s.grants.appendOnly()}
}

// appendOnly reports whether some grant gives append without write, to
// the granted object or beneath it.
func (t *grantTable) appendOnly() bool {
	for _, g := range t.grants {
		for _, r := range []rights.Rights{g.Rights.Base, g.Rights.Inherit} {
			if r.Has(rights.Append) && !r.Has(rights.Write) {
				return true
			}
		}
	}
	return false
}

// servedIf are syscalls the supervisor answers only for the argument
// values fdRules notifies; they are classified native otherwise.
var servedIf = []struct {
	name string
	nr   int
	h    handler
}{
	{"ioctl", unix.SYS_IOCTL, sysIoctl},
	{"fcntl", unix.SYS_FCNTL, sysFcntl},
	{"fallocate", unix.SYS_FALLOCATE, sysFallocate},
	{"execve", unix.SYS_EXECVE, sysExecve},
	{"execveat", unix.SYS_EXECVEAT, sysExecveat},
}

// rwfNoappend is RWF_NOAPPEND (Linux 6.9): a pwritev2 that writes at its
// offset although the descriptor has O_APPEND.
const rwfNoappend = 0x20

// fdRules are the argument-conditioned rules, placed before the filter's
// Notify rule. Notifying every ioctl or fcntl would cost terminals and the
// Go runtime (whose every os.Open sets O_NONBLOCK with F_SETFL) a round
// trip each, so only the values whose answer depends on the object are
// taken:
//
//   - ioctl FS_IOC_SETFLAGS (and its 32-bit number), FS_IOC_FSSETXATTR:
//     notified and decided by xattr-set on the object; refused outright
//     when no grant carries xattr-set.
//   - with an append-only grant only: fcntl(F_SETFL) with flags lacking
//     O_APPEND and fallocate beyond FALLOC_FL_KEEP_SIZE are notified
//     (decided by write on the object); pwritev2 with RWF_NOAPPEND is
//     refused (EPERM, the kernel's answer on an append-only inode: the
//     supervisor cannot perform a write for the task without copying its
//     buffers, and no program needs the flag); and shared mappings of
//     files are refused (EACCES, mmap's answer for a file it may not map
//     so), since a writable one overwrites an O_APPEND file in place and
//     a read-only one can be made writable by mprotect, where the filter
//     sees neither the descriptor nor whether the mapping is shared.
//     Anonymous shared mappings still work.
//
// All conditions compare the low 32 bits, which is all the kernel reads
// of these arguments (unsigned int cmd, int mode and flags).
func fdRules(sh FilterShape) []seccomp.Rule {
	var rules []seccomp.Rule
	setAttr := seccomp.Notify
	if !sh.Union.Has(rights.XattrSet) {
		setAttr = seccomp.Errno(unix.EPERM)
	}
	for _, req := range []uint32{fsIocSetflags, fsIoc32Setflags, fsIocFssetxattr} {
		rules = append(rules, seccomp.Rule{
			Syscalls: []string{"ioctl"},
			Args:     []seccomp.ArgMatch{{Index: 1, Value: req}},
			Action:   setAttr,
		})
	}
	if sh.Learn {
		rules = append(rules, seccomp.Rule{Syscalls: []string{"execve", "execveat"}, Action: seccomp.Notify})
	}
	if !sh.AppendOnly {
		return rules
	}
	return append(rules,
		seccomp.Rule{
			Syscalls: []string{"fcntl"},
			Args: []seccomp.ArgMatch{
				{Index: 1, Value: unix.F_SETFL},
				{Index: 2, Op: seccomp.ArgNoBit, Value: unix.O_APPEND},
			},
			Action: seccomp.Notify,
		},
		seccomp.Rule{
			Syscalls: []string{"fallocate"},
			Args:     []seccomp.ArgMatch{{Index: 1, Op: seccomp.ArgAnyBit, Value: ^uint32(unix.FALLOC_FL_KEEP_SIZE)}},
			Action:   seccomp.Notify,
		},
		seccomp.Rule{
			Syscalls: []string{"pwritev2"},
			Args:     []seccomp.ArgMatch{{Index: 5, Op: seccomp.ArgAnyBit, Value: rwfNoappend}},
			Action:   seccomp.Errno(unix.EPERM),
		},
		seccomp.Rule{
			// MAP_SHARED and MAP_SHARED_VALIDATE both have bit 0; a
			// private mapping (MAP_PRIVATE, 2) never writes the file.
			Syscalls: []string{"mmap"},
			Args: []seccomp.ArgMatch{
				{Index: 3, Op: seccomp.ArgAnyBit, Value: unix.MAP_SHARED},
				{Index: 3, Op: seccomp.ArgNoBit, Value: unix.MAP_ANONYMOUS},
			},
			Action: seccomp.Errno(unix.EACCES),
		},
	)
}
