// Command listdir opens a path with open(O_RDONLY), without O_DIRECTORY,
// and then either lists it (getdents64: "list") or reads it ("read"). It
// prints "ok N" (entries or bytes) or the errno name: the attack of a holder
// of read, not readdir, listing a directory by opening it as a file would
// be opened.
package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/tests/internal/testprog"
)

func main() {
	args := testprog.Args(2, "list|read PATH")
	n, err := run(args[0], args[1])
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			fmt.Println(unix.ErrnoName(errno))
			return
		}
		fmt.Println(err)
		return
	}
	fmt.Println("ok", n)
}

func run(mode, path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	if mode == "read" {
		return unix.Read(fd, buf)
	}
	total := 0
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return total, nil
		}
		for off := 0; off < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			total++
			off += reclen
		}
	}
}
