// Command ambient attempts one use of ambient authority beyond files and
// prints "ok" if it worked, or the error: the attacker of the capability
// mode tests (tests/run/capmode_test.go), run once unconfined and once
// under `capfd run`.
//
//	ambient tcp-connect HOST:PORT
//	ambient tcp-bind HOST:PORT
//	ambient tcp-fastopen IP:PORT       (connect inside sendto, MSG_FASTOPEN)
//	ambient udp-send HOST:PORT
//	ambient unix-connect PATH          (stream; "@NAME" is abstract)
//	ambient unix-bind PATH             (stream; "@NAME" is abstract)
//	ambient unix-dgram-send PATH
//	ambient kill PID                   (SIGKILL)
//	ambient shm KEY                    (attach by key, write "pwned")
//	ambient add-key                    (into the user keyring)
//	ambient mq-open                    (create a POSIX message queue by name)
//	ambient bpf-map                    (create a BPF array map)
//	ambient perf-open                  (count this task's CPU clock)
//	ambient userfaultfd
//	ambient netlink PROTO              (open a netlink socket: 0 route, 4 sock_diag)
//	ambient tiocsti                    (inject into stdin's terminal)
//	ambient setns-self                 (join its own UTS namespace through a pidfd)
//	ambient tioclinux                  (prints the errno of ioctl(0, TIOCLINUX))
//	ambient executable                 (prints os.Executable: Go reads /proc/self/exe)
//	ambient new-userns                 (start /bin/true in a new user namespace)
//	ambient getenv NAME
//	ambient tty                        (prints fd 0's device and whether it is the controlling terminal)
package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: ambient OP [ARG]")
		os.Exit(2)
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	err := attempt(os.Args[1], arg)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func attempt(op, arg string) error {
	switch op {
	case "tcp-connect":
		c, err := net.Dial("tcp", arg)
		if err != nil {
			return err
		}
		return c.Close()
	case "tcp-bind":
		l, err := net.Listen("tcp", arg)
		if err != nil {
			return err
		}
		return l.Close()
	case "tcp-fastopen":
		ap, err := netip.ParseAddrPort(arg)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, []byte("pwned"), unix.MSG_FASTOPEN, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	case "udp-send":
		c, err := net.Dial("udp", arg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("pwned"))
		return err
	case "unix-connect":
		return unixSocket(unix.SOCK_STREAM, arg, unix.Connect)
	case "unix-bind":
		return unixSocket(unix.SOCK_STREAM, arg, unix.Bind)
	case "unix-dgram-send":
		return unixSocket(unix.SOCK_DGRAM, arg, func(fd int, sa unix.Sockaddr) error {
			return unix.Sendto(fd, []byte("pwned"), 0, sa)
		})
	case "kill":
		pid, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		return unix.Kill(pid, unix.SIGKILL)
	case "shm":
		key, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		id, err := unix.SysvShmGet(key, 0, 0)
		if err != nil {
			return fmt.Errorf("shmget: %w", err)
		}
		mem, err := unix.SysvShmAttach(id, 0, 0)
		if err != nil {
			return fmt.Errorf("shmat: %w", err)
		}
		copy(mem, "pwned")
		return unix.SysvShmDetach(mem)
	case "add-key":
		_, err := unix.AddKey("user", "capfd-ambient-test", []byte("pwned"), unix.KEY_SPEC_USER_KEYRING)
		return err
	case "mq-open":
		name := []byte("capfd-ambient-test\x00")
		fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(&name[0])), unix.O_RDWR|unix.O_CREAT, 0o600, 0, 0, 0)
		if errno != 0 {
			return errno
		}
		unix.Close(int(fd))
		unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(&name[0])), 0, 0)
		return nil
	case "bpf-map":
		attr := struct{ mapType, keySize, valueSize, maxEntries uint32 }{2 /* BPF_MAP_TYPE_ARRAY */, 4, 4, 1}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != 0 {
			return errno
		}
		return unix.Close(int(fd))
	case "perf-open":
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK, Bits: unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "userfaultfd":
		fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
		if errno != 0 {
			return errno
		}
		return unix.Close(int(fd))
	case "netlink":
		proto, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "executable":
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		fmt.Println(exe)
		return nil
	case "setns-self":
		pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			return err
		}
		defer unix.Close(pidfd)
		return unix.Setns(pidfd, unix.CLONE_NEWUTS)
	case "tioclinux":
		subcode := byte(12) // TIOCL_GETSHIFTSTATE: harmless
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCLINUX, uintptr(unsafe.Pointer(&subcode)))
		fmt.Println(unix.ErrnoName(errno))
		return nil
	case "tiocsti":
		// "#\n": a whole line (a canonical terminal counts only those
		// as queued), and a comment to the shell that reads it.
		for _, c := range []byte("#\n") {
			_, _, errno := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
			if errno != 0 {
				return errno
			}
		}
		// The terminal's input queue now holds it (read before exiting:
		// a session leader's exit hangs the terminal up and flushes it).
		if n, err := unix.IoctlGetInt(0, unix.TIOCINQ); err != nil || n == 0 {
			return fmt.Errorf("TIOCSTI succeeded but the input queue is empty (%v)", err)
		}
		return nil
	case "new-userns":
		// clone(CLONE_NEWUSER): unshare(2) would refuse a threaded Go
		// process anyway.
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}
		return cmd.Run()
	case "getenv":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return fmt.Errorf("%s not set", arg)
		}
		fmt.Println(v)
		return nil
	case "tty":
		var st unix.Stat_t
		if err := unix.Fstat(0, &st); err != nil {
			return err
		}
		ctty := "no"
		if sid, err := unix.IoctlGetInt(0, unix.TIOCGSID); err == nil {
			if mine, _ := unix.Getsid(0); mine == sid {
				ctty = "yes"
			}
		}
		fmt.Printf("rdev=%d ctty=%s\n", st.Rdev, ctty)
		return nil
	}
	return fmt.Errorf("unknown op %q", op)
}

func unixSocket(typ int, path string, act func(int, unix.Sockaddr) error) error {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if len(path) > 0 && path[0] == '@' {
		path = "\x00" + path[1:]
	}
	return act(fd, &unix.SockaddrUnix{Name: path})
}
