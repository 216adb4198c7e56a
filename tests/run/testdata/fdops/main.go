// Command fdops changes a file through a descriptor, with raw system calls
// (no os.File, whose open sets O_NONBLOCK with F_SETFL), and prints "ok"
// or the errno name of each step, one line per step.
//
// usage:
//
//	fdops chmod PATH       open O_RDONLY, fchmod 0600
//	fdops chown PATH       open O_RDONLY, fchown to the file's own uid/gid
//	fdops futimens PATH    open O_RDONLY, futimens to 1000000000
//	fdops setxattr PATH    open O_RDONLY, fsetxattr user.capfd=x
//	fdops chattr +a|-a PATH open O_RDONLY, FS_IOC_GETFLAGS then SETFLAGS with FS_APPEND_FL set or cleared
//	fdops clearappend PATH open O_WRONLY|O_APPEND, fcntl(F_SETFL, 0), pwrite "XX" at 0
//	fdops keepappend PATH  open O_WRONLY|O_APPEND, fcntl(F_SETFL, flags|O_NONBLOCK), write "+"
//	fdops overwrite PATH   open O_RDWR|O_APPEND, then each other way to rewrite bytes at offset 0:
//	                       ftruncate, fallocate(PUNCH_HOLE), pwritev2(RWF_NOAPPEND), mmap(MAP_SHARED)
//	fdops memfd -          memfd_create, ftruncate, fallocate(PUNCH_HOLE): the program's own memory
//	fdops chmod-nofollow PATH  fchmodat2(AT_FDCWD, PATH, 0600, AT_SYMLINK_NOFOLLOW)
//	fdops chmod-procfd PATH    open O_PATH|O_NOFOLLOW, chmod /proc/self/fd/N 0600 (glibc's fchmodat fallback)
//	fdops chmod-fdname N       chmod /proc/self/fd/N 0600, N a descriptor the program inherited
package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	fsIocGetflags = 0x80086601
	fsIocSetflags = 0x40086602
	fsAppendFl    = 0x20
	rwfNoappend   = 0x20
)

func say(step string, err error) {
	if err == nil {
		fmt.Println(step, "ok")
		return
	}
	if errno, isErrno := err.(unix.Errno); isErrno {
		fmt.Println(step, unix.ErrnoName(errno))
		return
	}
	fmt.Println(step, err)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: fdops OP [ARG] PATH")
		os.Exit(2)
	}
	op, path := os.Args[1], os.Args[len(os.Args)-1]
	if op == "memfd" {
		fd, err := unix.MemfdCreate("fdops", unix.MFD_CLOEXEC)
		say("memfd", err)
		if err == nil {
			say("ftruncate", unix.Ftruncate(fd, 8192))
			say("punch", unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 4096))
		}
		return
	}
	switch op {
	case "chmod-nofollow":
		p, err := unix.BytePtrFromString(path)
		if err != nil {
			say("chmod-nofollow", err)
			return
		}
		cwd := unix.AT_FDCWD
		_, _, errno := unix.Syscall6(452 /* fchmodat2 */, uintptr(cwd), uintptr(unsafe.Pointer(p)), 0o600, unix.AT_SYMLINK_NOFOLLOW, 0, 0)
		say("chmod-nofollow", errnoErr(errno))
		return
	case "chmod-procfd":
		fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		say("open", err)
		if err == nil {
			say("chmod", unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), 0o600))
		}
		return
	case "chmod-fdname":
		say("chmod", unix.Chmod("/proc/self/fd/"+path, 0o600))
		return
	}
	flags := unix.O_RDONLY
	switch op {
	case "clearappend", "keepappend":
		flags = unix.O_WRONLY | unix.O_APPEND
	case "overwrite":
		flags = unix.O_RDWR | unix.O_APPEND
	}
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	say("open", err)
	if err != nil {
		os.Exit(1)
	}
	switch op {
	case "chmod":
		say("fchmod", unix.Fchmod(fd, 0o600))
	case "chown":
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			say("fstat", err)
			break
		}
		say("fchown", unix.Fchown(fd, int(st.Uid), int(st.Gid)))
	case "futimens":
		ts := []unix.Timespec{{Sec: 1000000000}, {Sec: 1000000000}}
		say("futimens", unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH))
		// The libc form: utimensat(fd, NULL, times, 0).
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
		say("utimensat-null", errnoErr(e))
	case "setxattr":
		say("fsetxattr", unix.Fsetxattr(fd, "user.capfd", []byte("x"), 0))
		say("fremovexattr", unix.Fremovexattr(fd, "user.capfd"))
	case "chattr":
		var attr int32
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocGetflags, uintptr(unsafe.Pointer(&attr)))
		say("getflags", errnoErr(e))
		if os.Args[2] == "+a" {
			attr |= fsAppendFl
		} else {
			attr &^= fsAppendFl
		}
		_, _, e = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocSetflags, uintptr(unsafe.Pointer(&attr)))
		say("setflags", errnoErr(e))
	case "clearappend":
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0)
		say("setfl", err)
		_, err = unix.Pwrite(fd, []byte("XX"), 0)
		say("pwrite", err)
	case "keepappend":
		cur, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		say("getfl", err)
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, cur|unix.O_NONBLOCK)
		say("setfl", err)
		cur, _ = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		fmt.Println("nonblock", cur&unix.O_NONBLOCK != 0, "append", cur&unix.O_APPEND != 0)
		_, err = unix.Write(fd, []byte("+"))
		say("write", err)
	case "overwrite":
		say("ftruncate", unix.Ftruncate(fd, 1))
		say("punch", unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 2))
		b := []byte("XX")
		iov := unix.Iovec{Base: &b[0], Len: 2}
		_, _, e := unix.Syscall6(unix.SYS_PWRITEV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, 0, 0, rwfNoappend)
		say("pwritev2-noappend", errnoErr(e))
		m, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err == nil {
			m[0] = 'M'
			unix.Munmap(m)
		}
		say("mmap-shared", err)
		say("fallocate-extend", unix.Fallocate(fd, 0, 0, 64))
	}
}
