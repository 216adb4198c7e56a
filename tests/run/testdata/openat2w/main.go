// Command openat2w opens PATH beneath DIR with openat2(RESOLVE_BENEATH),
// or RESOLVE_IN_ROOT with -in-root, and reads it (r), overwrites its start
// (w) or creates it (c). Prints "ok" and what it read, or the errno.
//
// usage: openat2w [-in-root] DIR PATH r|w|c
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	args := os.Args[1:]
	resolve := uint64(unix.RESOLVE_BENEATH)
	if len(args) > 0 && args[0] == "-in-root" {
		resolve, args = unix.RESOLVE_IN_ROOT, args[1:]
	}
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: openat2w [-in-root] DIR PATH r|w|c")
		os.Exit(2)
	}
	dirfd, err := unix.Open(args[0], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Println("dir:", unix.ErrnoName(err.(unix.Errno)))
		os.Exit(1)
	}
	flags := map[string]uint64{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "c": unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL}[args[2]]
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve}
	if flags&unix.O_CREAT != 0 {
		how.Mode = 0o644
	}
	fd, err := unix.Openat2(dirfd, args[1], &how)
	if err != nil {
		fmt.Println(unix.ErrnoName(err.(unix.Errno)))
		os.Exit(1)
	}
	switch args[2] {
	case "r":
		buf := make([]byte, 64)
		n, _ := unix.Read(fd, buf)
		fmt.Printf("ok %s", buf[:n])
	default:
		if _, err := unix.Pwrite(fd, []byte("pwned"), 0); err != nil {
			fmt.Println("write:", err)
			os.Exit(1)
		}
		fmt.Println("ok")
	}
}
