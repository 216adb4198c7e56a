// Command init is PID 1 inside the test VMs of package vmtest.
//
// The kernel unpacks the initramfs (this program as /init, the test binary as
// /vmtest/test, extra files) and runs it with the words of the kernel command
// line after "--" as arguments. It mounts the filesystems that tests of a
// Linux security layer expect, runs the test binary with those arguments,
// prints an exit marker the host parses, and powers the machine off.
//
// The marker matters because qemu exits 0 however the guest ended: only the
// marker tells the host that the tests ran to completion and how. The host
// passes a nonce (vmtest.nonce=) so output of the tests cannot forge it.
//
// Built with CGO_ENABLED=0: the initramfs has no libc, no loader, no shell.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"unsafe"
)

const (
	testBinary = "/vmtest/test"
	// Exit code reported when init cannot run the test binary at all.
	exitSetup = 125
)

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	// optional mounts are skipped when the kernel lacks the filesystem
	// (the target directory is missing, or the type is unknown).
	optional bool
}

var mounts = []mount{
	{"proc", "/proc", "proc", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", false},
	{"sysfs", "/sys", "sysfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", false},
	{"devtmpfs", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755", false},
	{"tmpfs", "/tmp", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777", false},
	{"tmpfs", "/run", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=0755", false},
	{"devpts", "/dev/pts", "devpts", syscall.MS_NOSUID | syscall.MS_NOEXEC, "ptmxmode=0666,mode=0620", true},
	{"tmpfs", "/dev/shm", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777", true},
	{"securityfs", "/sys/kernel/security", "securityfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", false},
	{"bpf", "/sys/fs/bpf", "bpf", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "mode=0700", false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "nsdelegate", false},
	{"tracefs", "/sys/kernel/tracing", "tracefs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", true},
	{"debugfs", "/sys/kernel/debug", "debugfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", true},
}

func main() {
	code := run()
	poweroff(code)
}

func run() int {
	ensureConsole()
	for _, m := range mounts {
		if err := m.mount(); err != nil {
			if m.optional {
				fmt.Fprintf(os.Stderr, "vmtest-init: skipping %s: %v\n", m.target, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "vmtest-init: %v\n", err)
			return exitSetup
		}
	}
	if err := loopbackUp(); err != nil {
		// Not fatal: only tests that use the network care, and they will say so.
		fmt.Fprintf(os.Stderr, "vmtest-init: loopback: %v\n", err)
	}

	params, err := kernelParams()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest-init: %v\n", err)
		return exitSetup
	}
	nonce = params["vmtest.nonce"]

	cmd := exec.Command(testBinary, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Dir = "/"
	if dir := params["vmtest.dir"]; dir != "" {
		cmd.Dir = dir
	}
	cmd.Env = []string{
		"CAPFD_IN_VM=1",
		"PATH=/vmtest/bin:/usr/bin:/bin",
		"HOME=/tmp",
		"TMPDIR=/tmp",
	}
	cmd.Env = append(cmd.Env, params.env()...)

	fmt.Printf("\nvmtest: start %s\n", nonce)
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Fprintf(os.Stderr, "vmtest-init: test binary killed by %v\n", ws.Signal())
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "vmtest-init: run %s: %v\n", testBinary, err)
		return exitSetup
	}
}

var nonce string

func (m mount) mount() error {
	if err := os.MkdirAll(m.target, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", m.target, err)
	}
	if err := syscall.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
	}
	return nil
}

// ensureConsole gives init a stdio on the console. The kernel opens
// /dev/console for PID 1 if the node exists in the initramfs (vmtest puts one
// there); if it did not, output would vanish silently, so reopen it after
// devtmpfs is available.
func ensureConsole() {
	if _, err := os.Stdout.Stat(); err == nil {
		return
	}
	if err := syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""); err != nil {
		return
	}
	f, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return
	}
	for fd := 0; fd <= 2; fd++ {
		syscall.Dup2(int(f.Fd()), fd)
	}
	_ = syscall.Unmount("/dev", syscall.MNT_DETACH)
}

// kernelParams holds the vmtest.* words of /proc/cmdline. They are read from
// /proc rather than received as environment because the kernel hands dotted
// parameters to modules, not to init.
type kernelParamSet map[string]string

func kernelParams() (kernelParamSet, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, fmt.Errorf("read kernel command line: %w", err)
	}
	params := kernelParamSet{}
	for _, word := range strings.Fields(string(b)) {
		if word == "--" {
			break
		}
		key, value, ok := strings.Cut(word, "=")
		if !ok || !strings.HasPrefix(key, "vmtest.") {
			continue
		}
		if key == "vmtest.env" {
			params[key] += value + "\x00"
			continue
		}
		params[key] = value
	}
	return params, nil
}

func (p kernelParamSet) env() []string {
	return strings.FieldsFunc(p["vmtest.env"], func(r rune) bool { return r == 0 })
}

// loopbackUp sets IFF_UP on lo, so tests can listen on 127.0.0.1.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	// struct ifreq: 16-byte name, then a union whose first member is
	// short ifr_flags; 40 bytes covers the whole struct on 64-bit.
	var ifr [40]byte
	copy(ifr[:], "lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, unsafe.Pointer(&ifr[0])); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	flags := *(*uint16)(unsafe.Pointer(&ifr[16]))
	*(*uint16)(unsafe.Pointer(&ifr[16])) = flags | syscall.IFF_UP
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, unsafe.Pointer(&ifr[0])); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// poweroff prints the exit marker, waits until the serial line has sent it,
// and turns the machine off. Powering off with bytes still queued in the UART
// would lose the marker, and the host would report a crash instead of a result.
func poweroff(code int) {
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "\nvmtest: exit-status %s %d\n", nonce, code)
	w.Flush()
	// TCSBRK with a non-zero argument is tcdrain(3).
	const tcsbrk = 0x5409
	syscall.Syscall(syscall.SYS_IOCTL, 1, tcsbrk, 1)
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest-init: power off: %v\n", err)
	}
	// PID 1 exiting panics the kernel; with panic=-1 and qemu's -no-reboot
	// that still ends the VM.
	os.Exit(code)
}
