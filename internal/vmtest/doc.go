// Package vmtest runs Go test binaries inside stock Debian kernels under
// QEMU/TCG, for code the development host's kernel refuses to run (BPF LSM
// and other trampoline programs get EPERM there).
//
// # Use
//
// Keep the guest-only tests and the host-side launcher in the same package:
//
//	// Guest side: runs only inside the VM.
//	func TestDenyTruncate(t *testing.T) {
//		vmtest.RequireVM(t) // skips on the host
//		...
//	}
//
//	// Host side: boots every kernel of the matrix, runs this package's tests
//	// there (one subtest per kernel), fails on a failing guest. It skips
//	// inside the VM, so it does not recurse.
//	func TestInVM(t *testing.T) {
//		vmtest.RunPackageTests(t, "github.com/capfd/capfd/broker/lsm")
//	}
//
// Extra arguments go to the guest test binary, e.g.
// vmtest.RunPackageTests(t, pkg, "-test.run=^TestDeny"). RunPackageTests
// returns the per-kernel Results for assertions on the guest output. For
// more control (extra files, environment, one kernel) use Kernels,
// BuildTestBinary and Run, or RunOnKernels.
//
// # The guest
//
// Each kernel boots with lsm=landlock,lockdown,yama,bpf (KernelLSMs) from an
// initramfs holding a static init (./init) and the test binary. Init mounts
// proc, sysfs, devtmpfs, devpts, securityfs, bpffs (/sys/fs/bpf), cgroup2
// (/sys/fs/cgroup), tracefs and debugfs when present, tmpfs on /tmp, /run and
// /dev/shm; brings up lo; runs the test binary as root with CAPFD_IN_VM=1
// (see InVM, RequireVM) and HOME=TMPDIR=/tmp; prints an exit marker; powers
// off. There is no network besides loopback, no shell, no libc: the test
// binary is built with CGO_ENABLED=0. A package's testdata directory is
// copied in and the binary runs from its parent, as under go test.
// Probe kernel features (BPF LSM hooks differ: file_truncate exists from 6.2)
// in the guest from kernel BTF; do not assume them from the kernel name.
//
// qemu exits 0 whatever happens in the guest, so the result comes only from
// init's marker: a guest that panics, hangs past the timeout or powers off
// on its own is an error, never a pass.
//
// # Kernels and setup
//
// The matrix is tests/vm/kernels.txt (Debian package pins). Fetch qemu and
// the kernels with scripts/fetch-kernels.sh; they land in .cache/kernels/.
// Built artifacts (init, test binaries, initramfs) live in .cache/vm/.
// Without qemu or kernels the VM tests skip, naming what is missing; with
// CAPFD_VM_REQUIRE=1 (CI) they fail instead. CAPFD_VM_KERNELS=name,...
// narrows the matrix; CAPFD_VM_KERNEL_DIR moves the kernel cache;
// CAPFD_VM_CMDLINE adds kernel parameters (loglevel=7 shows the whole boot
// log); CAPFD_QEMU names another qemu binary.
//
// Timing inside TCG says nothing about performance: use it only to see where
// a slow run spends its time (Result.BootTime, Result.RunTime).
package vmtest
