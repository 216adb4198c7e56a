package run

import (
	"strings"
	"testing"
)

// TestUnknownSyscallsFail: a path syscall the filter does not classify must
// not run. file_getattr and file_setattr (Linux 6.17) are newer than the
// seccomp library's table; with a default of Allow, file_setattr changed
// the attributes of a file outside every grant. Plainly both work on the
// secret file (the attack is real where the kernel has them); under capfd
// run both fail with ENOSYS, what a kernel without them answers, on the
// secret and on a granted file alike (they are not served).
func TestUnknownSyscallsFail(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	secret := f.secret + "/s.txt"
	for _, op := range []string{"get", "set"} {
		o := run(t, f.root, bin.fileattr, op, secret)
		switch {
		case strings.TrimSpace(o.stdout) == "ENOSYS":
			t.Skipf("this kernel has no file_%sattr (Linux 6.17+)", op)
		case o.code != 0:
			t.Fatalf("plain file_%sattr on %s: %+v", op, secret, o)
		}
		for _, target := range []string{secret, f.data + "/hello.txt"} {
			o := capfdRun(t, f.root, append(f.grants(), "--grant", bin.dir+"=rx"), bin.fileattr, op, target)
			if got := strings.TrimSpace(o.stdout); got != "ENOSYS" {
				t.Errorf("file_%sattr on %s under capfd run: %q (exit %d), want ENOSYS\nstderr: %s", op, target, got, o.code, o.stderr)
			}
		}
	}
}
