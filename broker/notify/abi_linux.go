package notify

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp user-notification ABI (include/uapi/linux/seccomp.h). x/sys
// has the RECV and SEND request numbers; the others are spelled out here
// with the _IOW encoding the kernel uses.
const (
	ioctlNotifRecv     = unix.SECCOMP_IOCTL_NOTIF_RECV // _IOWR('!', 0, struct seccomp_notif)
	ioctlNotifSend     = unix.SECCOMP_IOCTL_NOTIF_SEND // _IOWR('!', 1, struct seccomp_notif_resp)
	ioctlNotifIDValid  = 0x40082102                    // _IOW('!', 2, __u64)
	ioctlNotifAddfd    = 0x40182103                    // _IOW('!', 3, struct seccomp_notif_addfd)
	ioctlNotifSetFlags = 0x40082104                    // _IOW('!', 4, __u64)
)

// seccompData is struct seccomp_data: what the filter saw.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// notifReq is struct seccomp_notif. Pid is the thread id of the caller in
// the supervisor's pid namespace.
type notifReq struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifAddfd is struct seccomp_notif_addfd.
type notifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// The sizes the kernel expects (SECCOMP_GET_NOTIF_SIZES is checked against
// them in the tests); the arrays below fail to compile on any other size.
const (
	sizeofNotifReq   = 80
	sizeofNotifResp  = 24
	sizeofNotifAddfd = 24
)

var (
	_ [sizeofNotifReq - unsafe.Sizeof(notifReq{})]byte
	_ [sizeofNotifResp - unsafe.Sizeof(notifResp{})]byte
	_ [sizeofNotifAddfd - unsafe.Sizeof(notifAddfd{})]byte
	_ [unsafe.Sizeof(notifReq{}) - sizeofNotifReq]byte
	_ [unsafe.Sizeof(notifResp{}) - sizeofNotifResp]byte
	_ [unsafe.Sizeof(notifAddfd{}) - sizeofNotifAddfd]byte
)

func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// recv blocks until a notification arrives. ENOENT means the notifying task
// died between the wake-up and the receive; EINTR a signal. Both are retried
// by the caller.
func recv(listener int, req *notifReq) error {
	*req = notifReq{} // the kernel insists on a zeroed buffer
	return ioctlPtr(listener, ioctlNotifRecv, unsafe.Pointer(req))
}

// respond completes a notification: the syscall returns val, or fails with
// errno when errno is not 0.
//
// An interrupted NOTIF_SEND has done nothing (the kernel is interrupted
// only while it waits for the filter's lock), so EINTR is retried; ENOENT
// means the task died and nobody waits.
func respond(listener int, id uint64, val int64, errno unix.Errno) error {
	resp := notifResp{ID: id, Val: val, Error: -int32(errno)}
	for {
		err := ioctlPtr(listener, ioctlNotifSend, unsafe.Pointer(&resp))
		if err != unix.EINTR {
			return err
		}
	}
}

// respondContinue lets the kernel run the notified syscall as if it had
// not been notified (SECCOMP_USER_NOTIF_FLAG_CONTINUE). The kernel then
// reads the task's arguments again: used only where that cannot widen
// access (sysChdir).
func respondContinue(listener int, id uint64) error {
	resp := notifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	for {
		err := ioctlPtr(listener, ioctlNotifSend, unsafe.Pointer(&resp))
		if err != unix.EINTR {
			return err
		}
	}
}

// idValid reports whether notification id is still pending, i.e. the task
// that raised it is still alive and waiting. Checked after reading the
// task's memory or /proc entries: a pid can be reused once its task died,
// and what we read from a recycled pid must not be acted on.
func idValid(listener int, id uint64) bool {
	return ioctlPtr(listener, ioctlNotifIDValid, unsafe.Pointer(&id)) == nil
}

// installAndRespond installs srcfd in the notifying task and completes the
// syscall with the new descriptor's number, in two steps: ADDFD without
// SECCOMP_ADDFD_FLAG_SEND, then NOTIF_SEND of the number it returned.
//
// The one-step form (ADDFD with FLAG_SEND) cannot be made safe. The kernel
// marks the notification replied, with value 0, when it *queues* the
// add-fd, and then waits for the task to take it with an interruptible
// wait. A signal to the supervisor's thread in that wait (Go's preemption
// signal, SIGCHLD, SIGSTOP, the cgroup freezer: not all can be blocked)
// removes the queued add-fd, and the task, woken, finds a reply and no fd:
// its open returns 0. The restarted ioctl then fails with ENOENT, which
// looks exactly like a task that died. (kernel/seccomp.c,
// seccomp_notify_addfd; reproduced by tests/run TestOpenUnderLoad.)
//
// Without FLAG_SEND nothing is replied until we say so. An interrupted
// ADDFD either already installed the descriptor (the kernel returns its
// number even so) or withdrew it unseen, and the notification is still
// pending; a restart queues it again. So the task gets the descriptor we
// opened or nothing, never another number. Between the two steps the task
// cannot be interrupted either: the filter is installed with
// WAIT_KILLABLE_RECV (Linux 5.19+), so once we have received the
// notification only a fatal signal ends its wait, and then the whole fd
// table goes with it. (Before 5.19 a signal there would restart the
// syscall and leave the installed descriptor behind unreturned: a leak,
// still never a wrong value.)
//
// ENOENT from ADDFD now means what it says: the task is gone.
func installAndRespond(listener int, id uint64, srcfd int, cloexec bool) error {
	req := notifAddfd{ID: id, Srcfd: uint32(srcfd)}
	if cloexec {
		req.NewfdFlags = unix.O_CLOEXEC
	}
	var newfd uintptr
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), ioctlNotifAddfd, uintptr(unsafe.Pointer(&req)))
		if errno == unix.EINTR {
			continue // withdrawn unseen (see above): queue it again
		}
		if errno != 0 {
			return errno
		}
		newfd = r
		break
	}
	return respond(listener, id, int64(newfd), 0)
}

// setSyncWakeUp asks the kernel to wake the supervisor and the target on the
// current CPU (Linux 6.6+), which cuts the notification round trip. The
// flags travel by value in the ioctl argument, not through a pointer.
// Older kernels answer EINVAL and keep the ordinary wake-up.
func setSyncWakeUp(listener int) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), ioctlNotifSetFlags, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	if errno != 0 {
		return errno
	}
	return nil
}
