package notify

import (
	"bytes"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// pathMax is PATH_MAX including the terminating NUL, the kernel's limit for
// a path argument: longer strings fail with ENAMETOOLONG there too.
const pathMax = 4096

// pageSize is the smallest page size of the architectures Go supports on
// Linux; splitting at a smaller boundary than the real one is still correct.
const pageSize = 4096

// readString copies the NUL-terminated string at addr out of task pid.
//
// It asks for up to pathMax bytes in one process_vm_readv, split at the
// first page boundary: the kernel stops at the first unmapped page and
// returns what it copied (the man page promises only whole iovec elements,
// hence the split), so a short string at the end of a mapping still arrives
// whole. No NUL in what arrived
// means EFAULT (the string runs into unmapped memory) or ENAMETOOLONG (a
// full PATH_MAX without a terminator), as the kernel itself would answer.
//
// The task may rewrite the string after we copied it: that is harmless,
// because the supervisor acts only on its own copy and never lets the
// kernel re-read the task's memory for a decision (see doc.go).
func readString(pid int, addr uint64, buf *[pathMax]byte) (string, unix.Errno) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	local := []unix.Iovec{{Base: &buf[0], Len: pathMax}}
	firstPage := int(pageSize - addr%pageSize)
	remote := []unix.RemoteIovec{
		{Base: uintptr(addr), Len: firstPage},
		{Base: uintptr(addr) + uintptr(firstPage), Len: pathMax - firstPage},
	}
	if firstPage >= pathMax {
		remote = remote[:1]
		remote[0].Len = pathMax
	}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		if errno, ok := err.(unix.Errno); ok && errno != unix.EFAULT {
			return "", errno
		}
		return "", unix.EFAULT
	}
	if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
		return string(buf[:i]), 0
	}
	if n == pathMax {
		return "", unix.ENAMETOOLONG
	}
	return "", unix.EFAULT
}

// readMemory copies len(p) bytes at addr out of task pid; a short copy is
// EFAULT.
func readMemory(pid int, addr uint64, p []byte) unix.Errno {
	if len(p) == 0 {
		return 0
	}
	if addr == 0 {
		return unix.EFAULT
	}
	local := []unix.Iovec{{Base: &p[0], Len: uint64(len(p))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(p)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil || n != len(p) {
		return unix.EFAULT
	}
	return 0
}

// writeMemory copies p into the notifying task at addr, as the kernel's
// copy_to_user would for the emulated syscall; a short copy is EFAULT.
//
// It writes through the task's /proc/TID/mem, opened and then proven to be
// the notifying task's (ID_VALID), and cached per thread id. Such a
// descriptor is bound to the address space it was opened on, not to the
// number: if the task dies and its tid is recycled, a write can only reach
// the confined program it was opened for (or fail), never a process
// outside the sandbox, as a write by pid (process_vm_writev) could. After
// an exec the old address space is gone, the write comes up short, and a
// fresh descriptor is opened.
func (c *call) writeMemory(addr uint64, p []byte) unix.Errno {
	if len(p) == 0 {
		return 0
	}
	if addr == 0 || addr > math.MaxInt64 {
		return unix.EFAULT
	}
	tid := c.pid()
	for {
		fd, cached, errno := c.memFd(tid)
		if errno != 0 {
			return errno
		}
		n, err := vfsops.Pwrite(fd, p, int64(addr))
		if err == nil && n == len(p) {
			return 0
		}
		c.dropMem(tid)
		if !cached {
			return unix.EFAULT
		}
	}
}

// memFd returns the cached /proc/TID/mem descriptor of tid, or opens and
// validates one.
func (c *call) memFd(tid int) (fd int, cached bool, errno unix.Errno) {
	if fd, ok := c.mems[tid]; ok {
		return fd, true, 0
	}
	// Through the task's cached procfs directory (procEntry, opened
	// beneath the verified procfs handle), not "/proc/"+tid+"/mem": one
	// openat, as before, and no walk from "/".
	e, _, errno := c.procEntry(tid)
	if errno == errGone {
		return -1, false, errGone
	}
	if errno != 0 {
		return -1, false, unix.EFAULT
	}
	fd, err := e.dir.Open("mem", unix.O_WRONLY)
	if err != nil {
		return -1, false, unix.EFAULT
	}
	if !c.valid() {
		unix.Close(fd)
		return -1, false, errGone
	}
	if len(c.mems) >= maxPidfds {
		c.closeMems()
	}
	if c.mems == nil {
		c.mems = make(map[int]int)
	}
	c.mems[tid] = fd
	return fd, false, 0
}

func (c *call) dropMem(tid int) {
	if fd, ok := c.mems[tid]; ok {
		unix.Close(fd)
		delete(c.mems, tid)
	}
}

func (c *call) closeMems() {
	for tid := range c.mems {
		c.dropMem(tid)
	}
}

// asBytes views a fixed-size kernel struct as bytes for writeMemory.
func asBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}
