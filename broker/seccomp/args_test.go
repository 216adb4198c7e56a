package seccomp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unsafe"

	"golang.org/x/sys/unix"
)

// argSimulator is simulator with arguments: it runs the program on a
// seccomp_data for (native arch, nr, args). The VM loads words big-endian,
// so each 32-bit half is stored big-endian where the program loads it
// (LdLo/LdHi use the native layout: on little-endian machines the low half
// comes first).
func argSimulator(t testing.TB, prog []unix.SockFilter) func(nr uint32, args [6]uint64) Action {
	t.Helper()
	run := loadVM(t, prog)
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	return func(nr uint32, args [6]uint64) Action {
		return run(func(data []byte) {
			binary.BigEndian.PutUint32(data[offsetNr:], nr)
			binary.BigEndian.PutUint32(data[offsetArch:], uint32(native.ID))
			for i, a := range args {
				lo, hi := 16+8*i, 16+8*i+4
				if !little {
					lo, hi = hi, lo
				}
				binary.BigEndian.PutUint32(data[lo:], uint32(a))
				binary.BigEndian.PutUint32(data[hi:], uint32(a>>32))
			}
		})
	}
}

const (
	fsIocSetflags   = 0x40086602 // _IOW('f', 2, long)
	fsIocFssetxattr = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	rwfNoappend     = 0x20
)

// argFilter is the filter both the simulation and the installed child use:
// conditional rules, a later rule for the same syscall that the calls
// failing the conditions fall through to, and an unconditional rule
// behind them.
func argFilter() Filter {
	return Filter{Default: Allow, Rules: []Rule{
		{Syscalls: []string{"fcntl"}, Args: []ArgMatch{{Index: 1, Value: unix.F_SETFL}, {Index: 2, Op: ArgNoBit, Value: unix.O_APPEND}}, Action: Errno(unix.ENOTBLK)},
		{Syscalls: []string{"ioctl"}, Args: []ArgMatch{{Index: 1, Value: fsIocSetflags}}, Action: Errno(unix.EXDEV)},
		{Syscalls: []string{"ioctl"}, Args: []ArgMatch{{Index: 1, Value: fsIocFssetxattr}}, Action: Errno(unix.EXDEV)},
		{Syscalls: []string{"pwritev2"}, Args: []ArgMatch{{Index: 5, Op: ArgAnyBit, Value: rwfNoappend}}, Action: Errno(unix.EROFS)},
		// Reached by fcntl calls the first rule did not take.
		{Syscalls: []string{"fcntl"}, Args: []ArgMatch{{Index: 1, Value: unix.F_GETFD}}, Action: Errno(unix.ECHILD)},
		{Syscalls: []string{"getcwd", "fcntl"}, Action: Errno(unix.ENOTSUP)},
	}}
}

func TestAssembleArgs(t *testing.T) {
	prog, err := argFilter().Assemble()
	if err != nil {
		t.Fatal(err)
	}
	run := argSimulator(t, prog)
	const high = 0xffffffff00000000 // ignored by the kernel for these arguments
	cases := []struct {
		name string
		call string
		args [6]uint64
		want Action
	}{
		{"F_SETFL clearing O_APPEND", "fcntl", [6]uint64{3, unix.F_SETFL, unix.O_NONBLOCK}, Errno(unix.ENOTBLK)},
		{"F_SETFL, garbage in the high half of cmd", "fcntl", [6]uint64{3, high | unix.F_SETFL, 0}, Errno(unix.ENOTBLK)},
		{"F_SETFL keeping O_APPEND falls through", "fcntl", [6]uint64{3, unix.F_SETFL, unix.O_APPEND}, Errno(unix.ENOTSUP)},
		{"F_GETFD: the second fcntl rule", "fcntl", [6]uint64{3, unix.F_GETFD}, Errno(unix.ECHILD)},
		{"F_GETFL: the unconditional rule", "fcntl", [6]uint64{3, unix.F_GETFL}, Errno(unix.ENOTSUP)},
		{"F_SETFD is not F_SETFL", "fcntl", [6]uint64{3, unix.F_SETFD, 0}, Errno(unix.ENOTSUP)},
		{"FS_IOC_SETFLAGS", "ioctl", [6]uint64{3, fsIocSetflags}, Errno(unix.EXDEV)},
		{"FS_IOC_SETFLAGS, high half set", "ioctl", [6]uint64{3, high | fsIocSetflags}, Errno(unix.EXDEV)},
		{"FS_IOC_FSSETXATTR", "ioctl", [6]uint64{3, fsIocFssetxattr}, Errno(unix.EXDEV)},
		{"FS_IOC_SETFLAGS as the fd", "ioctl", [6]uint64{fsIocSetflags, unix.TCGETS}, Allow},
		{"TCGETS", "ioctl", [6]uint64{0, unix.TCGETS}, Allow},
		{"FS_IOC_GETFLAGS", "ioctl", [6]uint64{3, 0x80086601}, Allow},
		{"pwritev2 RWF_NOAPPEND|RWF_SYNC", "pwritev2", [6]uint64{3, 0, 1, 0, 0, rwfNoappend | 4}, Errno(unix.EROFS)},
		{"pwritev2 RWF_SYNC", "pwritev2", [6]uint64{3, 0, 1, 0, 0, 4}, Allow},
		{"pwritev2, bit in the high half only", "pwritev2", [6]uint64{3, 0, 1, 0, 0, rwfNoappend << 32}, Allow},
		{"getcwd after the conditional rules", "getcwd", [6]uint64{}, Errno(unix.ENOTSUP)},
		{"read", "read", [6]uint64{0, 0, fsIocSetflags}, Allow},
	}
	for _, c := range cases {
		if got := run(nr(t, c.call), c.args); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

// Conditional rules among very long ones: the long jumps the assembler
// inserts must not land between a condition and its reload of the number.
func TestAssembleArgsLongRules(t *testing.T) {
	var all []string
	for name := range native.SyscallNames {
		if name != "fcntl" && name != "getcwd" && name != "ioctl" && name != "pwritev2" {
			all = append(all, name)
		}
	}
	f := argFilter()
	f.Rules = append([]Rule{{Syscalls: all[:len(all)/2], Action: Errno(unix.ENOSYS)}}, f.Rules...)
	f.Rules = append(f.Rules, Rule{Syscalls: all[len(all)/2:], Action: Errno(unix.EBADE)})
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) <= 256 {
		t.Fatalf("program has only %d instructions; the test needs long jumps", len(prog))
	}
	run := argSimulator(t, prog)
	if got := run(nr(t, "fcntl"), [6]uint64{3, unix.F_SETFL}); got != Errno(unix.ENOTBLK) {
		t.Errorf("F_SETFL: got %s", got)
	}
	if got := run(nr(t, "fcntl"), [6]uint64{3, unix.F_GETFL}); got != Errno(unix.ENOTSUP) {
		t.Errorf("F_GETFL: got %s", got)
	}
	for _, name := range all[len(all)/2:] {
		// Arguments that would satisfy some condition, if the number
		// were not reloaded.
		if got := run(nr(t, name), [6]uint64{3, fsIocSetflags, 0, 0, 0, rwfNoappend}); got != Errno(unix.EBADE) {
			t.Fatalf("%s: got %s, want errno(EBADE)", name, got)
		}
	}
}

func TestAssembleRejectsArgs(t *testing.T) {
	for _, m := range []ArgMatch{{Index: 6}, {Index: -1}, {Index: 1, Op: 9}} {
		_, err := Filter{Default: Allow, Rules: []Rule{{Syscalls: []string{"fcntl"}, Action: Errno(unix.EPERM), Args: []ArgMatch{m}}}}.Assemble()
		if err == nil || !strings.Contains(err.Error(), "argument") {
			t.Errorf("%+v: got %v, want an error about the argument", m, err)
		}
	}
}

func init() { scenarios["args"] = argsScenario }

// argsScenario installs argFilter and makes the calls for real: the kernel
// must decide as the simulation does, high halves included.
func argsScenario(dir string) report {
	r := report{}
	fd, err := unix.Open(filepath.Join(dir, "f"), unix.O_RDWR|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		r["open"] = outcome(err)
		return r
	}
	if _, err := argFilter().Install(); err != nil {
		r["install"] = outcome(err)
		return r
	}
	fcntl := func(cmd, arg uint64) error {
		_, _, errno := unix.Syscall(unix.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
		return errnoOrNil(errno)
	}
	ioctl := func(cmd uint64) error {
		var flags int64
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(cmd), uintptr(unsafePointer(&flags)))
		return errnoOrNil(errno)
	}
	const high = 0xffffffff00000000
	r["setfl_clear"] = outcome(fcntl(unix.F_SETFL, unix.O_NONBLOCK))
	r["setfl_clear_high"] = outcome(fcntl(high|unix.F_SETFL, 0))
	r["setfl_keep"] = outcome(fcntl(unix.F_SETFL, unix.O_APPEND))
	r["getfd"] = outcome(fcntl(unix.F_GETFD, 0))
	r["getfl"] = outcome(fcntl(unix.F_GETFL, 0))
	r["setflags"] = outcome(ioctl(fsIocSetflags))
	r["setflags_high"] = outcome(ioctl(high | fsIocSetflags))
	r["getflags"] = outcome(ioctl(0x80086601)) // FS_IOC_GETFLAGS: runs
	iov := []unix.Iovec{{Base: new(byte), Len: 1}}
	_, _, errno := unix.Syscall6(unix.SYS_PWRITEV2, uintptr(fd), uintptr(unsafePointer(&iov[0])), 1, 0, 0, rwfNoappend)
	r["pwritev2_noappend"] = outcome(errnoOrNil(errno))
	_, err = unix.Getcwd(make([]byte, 4096))
	r["getcwd"] = outcome(err)
	return r
}

func TestInstallArgs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, sig := runChild(t, "args", dir)
	if sig != 0 {
		t.Fatalf("child killed by %v", sig)
	}
	want := report{
		"setfl_clear": "ENOTBLK", "setfl_clear_high": "ENOTBLK", "setfl_keep": "ENOTSUP",
		"getfd": "ECHILD", "getfl": "ENOTSUP",
		"setflags": "EXDEV", "setflags_high": "EXDEV",
		"pwritev2_noappend": "EROFS", "getcwd": "ENOTSUP",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s: got %q, want %q (report %v)", k, r[k], v, r)
		}
	}
	// FS_IOC_GETFLAGS reaches the file system, which answers for itself.
	if g := r["getflags"]; g == "EXDEV" || g == "" {
		t.Errorf("getflags: got %q, want the file system's answer", g)
	}
}

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
