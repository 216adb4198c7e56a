// Command memfdexec copies the bytes of FILE into a memfd and executes
// that (execveat AT_EMPTY_PATH) with ARGS: a way to run a file one may
// read but not execute. Prints "exec failed: ERRNO" when the kernel
// refuses.
//
// usage: memfdexec FILE [ARGS...]
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: memfdexec FILE [ARGS...]")
		os.Exit(2)
	}
	body, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Println("read failed:", err)
		os.Exit(1)
	}
	fd, err := unix.MemfdCreate("memfdexec", unix.MFD_CLOEXEC)
	if err != nil {
		fmt.Println("memfd_create failed:", unix.ErrnoName(err.(unix.Errno)))
		os.Exit(1)
	}
	if _, err := unix.Write(fd, body); err != nil {
		fmt.Println("write failed:", err)
		os.Exit(1)
	}
	err = vfsops.Exec(fd, append([]string{os.Args[1]}, os.Args[2:]...), os.Environ())
	var errno unix.Errno
	if !errors.As(err, &errno) {
		os.Exit(2)
	}
	fmt.Println("exec failed:", unix.ErrnoName(errno))
	os.Exit(1)
}
