package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	seccompbpf "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Rule gives one action to a set of syscalls, named as in the kernel's
// syscall table for the running architecture ("openat", "fchmodat2").
//
// Args, when set, narrows the rule to calls whose arguments all match
// (see ArgMatch); a call of one of the syscalls that fails them is not
// decided here and goes on to the next rule, so first-match still holds.
type Rule struct {
	Syscalls []string
	Action   Action
	Args     []ArgMatch
}

// ArgOp is how an ArgMatch compares.
type ArgOp uint8

const (
	// ArgEqual matches when the argument's low 32 bits equal Value.
	ArgEqual ArgOp = iota
	// ArgAnyBit matches when the argument's low 32 bits share a set bit
	// with Value.
	ArgAnyBit
	// ArgNoBit matches when they share none.
	ArgNoBit
)

// ArgMatch is a condition on one syscall argument, compared on its low 32
// bits only. That is what the kernel itself reads of the arguments this is
// meant for: fcntl's cmd and ioctl's request are unsigned int in their
// SYSCALL_DEFINEs, open flags and rwf_t are int, so whatever a program puts
// in the upper half is ignored by the kernel and must be by the filter too
// (comparing all 64 bits would let 0xffffffff_40086602 slip past a rule for
// FS_IOC_SETFLAGS and still reach it). Not meant for pointers or 64-bit
// quantities.
type ArgMatch struct {
	Index int // 0 to 5
	Op    ArgOp
	Value uint32
}

func (m ArgMatch) validate() error {
	if m.Index < 0 || m.Index > 5 {
		return fmt.Errorf("argument index %d: a syscall has arguments 0 to 5", m.Index)
	}
	if m.Op > ArgNoBit {
		return fmt.Errorf("argument %d: unknown comparison %d", m.Index, m.Op)
	}
	return nil
}

// reloadNr is a placeholder for "load the syscall number again", which
// the assembler library has no instruction for: emitted as a load of an
// offset far beyond struct seccomp_data (64 bytes), so no real load can
// look like it, and rewritten to a load of offset 0 after assembly. Jump
// resolution only counts instructions, so the rewrite moves nothing.
const reloadNrArg = 100

var reloadNrPlaceholder = bpf.LoadAbsolute{Off: 16 + 8*reloadNrArg + 4, Size: 4}

// Filter is a seccomp program: the first rule naming a syscall decides its
// fate, every other syscall gets Default. First-match lets a caller put a
// hard denial (DenyMountFamily) before a broad Notify rule that happens to
// name the same syscall.
type Filter struct {
	Default Action
	Rules   []Rule
}

// Offsets into struct seccomp_data, the input of every seccomp program.
const (
	offsetNr   = 0
	offsetArch = 4
)

// maxInstructions is BPF_MAXINSNS: the kernel refuses longer programs.
const maxInstructions = 4096

// x32SyscallBit marks x32-ABI syscall numbers. x32 shares AUDIT_ARCH_X86_64
// with the native ABI, so the arch check alone cannot catch it.
const x32SyscallBit = 0x40000000

// native describes the architecture this binary runs as; a seccomp program
// only ever matches numbers from this table.
var native, nativeErr = arch.GetInfo("")

// Assemble compiles f into a classic BPF program for seccomp(2).
//
// The program first checks the architecture of the syscall and kills the
// process on any other: a 64-bit process can still enter the kernel through
// int 0x80 (i386 numbers) or with the x32 bit set, and there the numbers in
// our rules mean different syscalls, so a deny list would simply not apply.
// Kill rather than errno: such a call is never made by honest Go or glibc
// code, only by code trying to slip past the filter.
func (f Filter) Assemble() ([]unix.SockFilter, error) {
	if nativeErr != nil {
		return nil, fmt.Errorf("seccomp: %w", nativeErr)
	}
	if err := f.Default.validate(); err != nil {
		return nil, fmt.Errorf("seccomp: default: %w", err)
	}

	prog := seccompbpf.NewProgram()
	var problems []error
	for i, rule := range f.Rules {
		if err := rule.Action.validate(); err != nil {
			problems = append(problems, fmt.Errorf("rule %d: %w", i, err))
			continue
		}
		numbers, err := syscallNumbers(rule.Syscalls)
		if err != nil {
			problems = append(problems, fmt.Errorf("rule %d: %w", i, err))
			continue
		}
		for _, m := range rule.Args {
			if err := m.validate(); err != nil {
				problems = append(problems, fmt.Errorf("rule %d: %w", i, err))
			}
		}
		if len(numbers) == 0 {
			continue
		}
		matched, next := prog.NewLabel(), prog.NewLabel()
		for _, nr := range numbers[:len(numbers)-1] {
			prog.JmpIfTrue(bpf.JumpEqual, nr, matched)
		}
		prog.JmpIf(bpf.JumpEqual, numbers[len(numbers)-1], matched, next)
		prog.SetLabel(matched)
		if len(rule.Args) > 0 {
			// The accumulator now holds arguments: a call that fails a
			// condition reloads the number before the next rule.
			miss := prog.NewLabel()
			for _, m := range rule.Args {
				pass := prog.NewLabel()
				prog.LdLo(uint32(m.Index))
				switch m.Op {
				case ArgEqual:
					prog.JmpIf(bpf.JumpEqual, m.Value, pass, miss)
				case ArgAnyBit:
					prog.JmpIf(bpf.JumpBitsSet, m.Value, pass, miss)
				case ArgNoBit:
					prog.JmpIf(bpf.JumpBitsNotSet, m.Value, pass, miss)
				}
				prog.SetLabel(pass)
			}
			prog.Ret(seccompbpf.Action(rule.Action))
			prog.SetLabel(miss)
			prog.LdHi(reloadNrArg)
		} else {
			prog.Ret(seccompbpf.Action(rule.Action))
		}
		prog.SetLabel(next)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("seccomp: %w", errors.Join(problems...))
	}
	prog.Ret(seccompbpf.Action(f.Default))

	body, err := prog.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	for i, inst := range body {
		if inst == bpf.Instruction(reloadNrPlaceholder) {
			body[i] = bpf.LoadAbsolute{Off: offsetNr, Size: 4}
		}
	}

	insts := append(prologue(), body...)
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	if len(raw) > maxInstructions {
		return nil, fmt.Errorf("seccomp: program has %d instructions, the kernel takes at most %d", len(raw), maxInstructions)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// prologue loads the architecture, kills on a foreign one, then leaves the
// syscall number in the accumulator for the rules.
func prologue() []bpf.Instruction {
	insts := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offsetArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(KillProcess)},
		bpf.LoadAbsolute{Off: offsetNr, Size: 4},
	}
	if native.ID == arch.X86_64.ID {
		insts = append(insts,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
			bpf.RetConstant{Val: uint32(KillProcess)},
		)
	}
	return insts
}

// syscallNumbers resolves names for the native architecture. An unknown name
// is an error, never skipped: a typo in a deny rule would otherwise leave the
// syscall open.
func syscallNumbers(names []string) ([]uint32, error) {
	var unknown []string
	numbers := make([]uint32, 0, len(names))
	for _, name := range names {
		nr, ok := native.SyscallNames[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if !slices.Contains(numbers, uint32(nr)) {
			numbers = append(numbers, uint32(nr))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown syscalls on %s: %s", native.Name, strings.Join(unknown, ", "))
	}
	return numbers, nil
}

// Known reports whether name is a syscall of the running architecture.
// Portable rule lists filter through it: chmod(2) exists on x86-64 but not
// on arm64, where only fchmodat(2) does.
func Known(name string) bool {
	if nativeErr != nil {
		return false
	}
	_, ok := native.SyscallNames[name]
	return ok
}

// Table returns the syscall table the filter's names resolve against, for
// the running architecture: name to number. Callers that classify every
// syscall (an allow-list) check themselves against it.
func Table() map[string]int {
	out := make(map[string]int, len(native.SyscallNames))
	if nativeErr != nil {
		return out
	}
	for name, nr := range native.SyscallNames {
		out[name] = nr
	}
	return out
}
