// Command fileattr calls file_getattr or file_setattr (Linux 6.17) on a
// path, with the raw syscall numbers: an x/sys or libc that predates them
// makes no difference. "set" writes back the attributes "get" reads, so it
// changes nothing but shows whether it could. Prints "ok" or the errno.
//
// usage: fileattr get|set PATH
package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	sysFileGetattr = 468
	sysFileSetattr = 469
)

// fileAttr is struct file_attr (FILE_ATTR_SIZE_VER0 = 24 bytes).
type fileAttr struct {
	Xflags     uint64
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
}

func call(nr uintptr, path *byte, fa *fileAttr) unix.Errno {
	atFdcwd := int64(unix.AT_FDCWD)
	_, _, errno := unix.Syscall6(nr, uintptr(atFdcwd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(fa)), unsafe.Sizeof(*fa), 0, 0)
	return errno
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "get" && os.Args[1] != "set") {
		fmt.Fprintln(os.Stderr, "usage: fileattr get|set PATH")
		os.Exit(2)
	}
	path, err := unix.BytePtrFromString(os.Args[2])
	if err != nil {
		os.Exit(2)
	}
	var fa fileAttr
	errno := call(sysFileGetattr, path, &fa)
	if errno == 0 && os.Args[1] == "set" {
		fa.Nextents = 0 // output only; must be zero on input
		errno = call(sysFileSetattr, path, &fa)
	}
	if errno != 0 {
		fmt.Println(unix.ErrnoName(errno))
		os.Exit(1)
	}
	fmt.Println("ok")
}
