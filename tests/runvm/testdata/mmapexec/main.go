// Command mmapexec maps a file executable, the step a program takes to run
// code from a file without exec'ing it (what a dynamic loader does with a
// library, or an attacker with a file it may only read).
//
//	mmapexec FILE
//
// It opens FILE read-only and maps its first page PROT_READ|PROT_EXEC, then
// prints "mapped" (exit 0) or "refused: ERRNO" (exit 1) when mmap fails;
// exit 2 means the test could not even get that far (bad usage, open
// failed). It is built static (CGO_ENABLED=0) so it runs in a guest with no
// libc and needs no library grants under capfd run.
package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/tests/internal/testprog"
)

func main() {
	os.Exit(mapExec(testprog.Args(1, "FILE")[0]))
}

func mapExec(path string) int {
	// O_RDONLY is all PROT_EXEC needs from the open: the kernel checks an
	// executable mapping against the file's mount (noexec) and the LSMs,
	// not against the open mode. So only an LSM can refuse it here.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmapexec: open %s: %v\n", path, err)
		return 2
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			fmt.Printf("refused: %s\n", unix.ErrnoName(errno))
		} else {
			fmt.Printf("refused: %v\n", err)
		}
		return 1
	}
	if err := unix.Munmap(mem); err != nil {
		fmt.Fprintf(os.Stderr, "mmapexec: munmap: %v\n", err)
		return 2
	}
	fmt.Println("mapped")
	return 0
}
