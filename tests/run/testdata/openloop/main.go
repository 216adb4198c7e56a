// Command openloop opens and closes a file N times with raw openat/close
// and prints the mean nanoseconds per open+close: the workload of the
// `capfd run` benchmark, run both directly and under the supervisor.
package main

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/tests/internal/testprog"
)

func main() {
	args := testprog.Args(2, "FILE N")
	path, n := args[0], testprog.Count(args[1], "N")
	// One untimed open: fails early with a clear message, warms caches.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		testprog.Fail(1, err)
	}
	unix.Close(fd)
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		testprog.Fail(2, err)
	}
	// Raw system calls: the loop measures the kernel (and, under capfd
	// run, the supervisor), not the Go scheduler's handling of a syscall
	// that blocks while the supervisor answers. The C floor's child makes
	// the same two calls.
	atFdcwd := int64(unix.AT_FDCWD)
	start := time.Now()
	for range n {
		fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(atFdcwd), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if errno != 0 {
			testprog.Fail(1, errno)
		}
		unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	}
	fmt.Println(time.Since(start).Nanoseconds() / int64(n))
}
