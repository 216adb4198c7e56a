//go:build linux

package lsm

// The guest tests run each operation in a child process: the test binary
// re-executed with the operation named in the environment, which TestMain
// dispatches to helperMain before any test runs. The child prepares (opens the fds it is "legitimately"
// given), says "ready", waits for "go" while the parent marks it, performs
// the operation and prints one result line.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

const (
	envOp          = "CAPFD_LSM_OP"           // operation the helper performs
	envArgs        = "CAPFD_LSM_ARGS"         // its arguments, JSON
	envNoHandshake = "CAPFD_LSM_NO_HANDSHAKE" // "1": no ready/go exchange (grandchildren, exec'd images)
	envThread      = "CAPFD_LSM_THREAD"       // "1": run the operation on a thread that is not the leader
)

// helperMain is the child process of the guest tests, selected by
// CAPFD_LSM_OP; TestMain calls it before any test runs.
func helperMain(op string) int {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(envArgs)), &args); err != nil {
		report(fmt.Errorf("bad %s: %v", envArgs, err))
		return 0
	}
	report(runOp(op, args))
	return 0
}

// report prints the result line the parent parses: "ok", "errno N" or
// "fail TEXT".
func report(err error) {
	var errno syscall.Errno
	switch {
	case err == nil:
		fmt.Println("ok")
	case errors.As(err, &errno):
		fmt.Printf("errno %d %v\n", int(errno), err)
	default:
		fmt.Printf("fail %v\n", err)
	}
}

// handshake tells the parent the child is ready and waits for its go-ahead.
func handshake() error {
	if os.Getenv(envNoHandshake) == "1" {
		return nil
	}
	fmt.Println("ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || line != "go\n" {
		return fmt.Errorf("handshake: got %q, %v", line, err)
	}
	return nil
}

// op is one operation: prepare runs before the child is marked and returns
// the action that runs after.
type op func(args []string) (action func() error, err error)

var ops = map[string]op{
	"ok": func([]string) (func() error, error) { return func() error { return nil }, nil },
	"open-read": func(a []string) (func() error, error) {
		return func() error { return openClose(a[0], unix.O_RDONLY) }, nil
	},
	"open-write": func(a []string) (func() error, error) {
		return func() error { return openClose(a[0], unix.O_WRONLY) }, nil
	},
	"open-append": func(a []string) (func() error, error) {
		return func() error { return openClose(a[0], unix.O_WRONLY|unix.O_APPEND) }, nil
	},
	"open-trunc": func(a []string) (func() error, error) {
		return func() error { return openClose(a[0], unix.O_RDONLY|unix.O_TRUNC) }, nil
	},
	"create": func(a []string) (func() error, error) {
		return func() error { return openClose(a[0], unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL) }, nil
	},
	// The /proc/self/fd upgrade: an fd opened read-only before the mark is
	// re-opened read-write through its magic link.
	"reopen-rdwr": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error { return openClose("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR) }, nil
	},
	// /proc/PID/map_files: a mapping of a file re-opened by address range.
	"open-mapfile": func(a []string) (func() error, error) {
		name, err := mapFileOf(a[0])
		if err != nil {
			return nil, err
		}
		return func() error { return openClose(name, unix.O_RDONLY) }, nil
	},
	"clear-append": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0)
			return err
		}, nil
	},
	"truncate": func(a []string) (func() error, error) {
		return func() error { return unix.Truncate(a[0], 0) }, nil
	},
	"truncate-procfd": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error { return unix.Truncate("/proc/self/fd/"+strconv.Itoa(fd), 0) }, nil
	},
	"ftruncate": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error { return unix.Ftruncate(fd, 0) }, nil
	},
	"chmod": func(a []string) (func() error, error) {
		return func() error { return unix.Chmod(a[0], 0o600) }, nil
	},
	"chown": func(a []string) (func() error, error) {
		return func() error { return unix.Chown(a[0], os.Getuid(), os.Getgid()) }, nil
	},
	"chown-other": func(a []string) (func() error, error) {
		return func() error { return unix.Chown(a[0], 65534, 65534) }, nil
	},
	"utimes": func(a []string) (func() error, error) {
		return func() error { return unix.UtimesNano(a[0], []unix.Timespec{{Sec: 1}, {Sec: 1}}) }, nil
	},
	"mkfifo": func(a []string) (func() error, error) {
		return func() error { return unix.Mkfifo(a[0], 0o600) }, nil
	},
	"mkdir": func(a []string) (func() error, error) {
		return func() error { return unix.Mkdir(a[0], 0o700) }, nil
	},
	"unlink": func(a []string) (func() error, error) {
		return func() error { return unix.Unlink(a[0]) }, nil
	},
	"rmdir": func(a []string) (func() error, error) {
		return func() error { return unix.Rmdir(a[0]) }, nil
	},
	"open-mode3": func(a []string) (func() error, error) {
		return func() error { return openClose(a[0], unix.O_ACCMODE) }, nil
	},
	"exchange": func(a []string) (func() error, error) {
		return func() error { return unix.Renameat2(unix.AT_FDCWD, a[0], unix.AT_FDCWD, a[1], unix.RENAME_EXCHANGE) }, nil
	},
	"rename": func(a []string) (func() error, error) {
		return func() error { return unix.Rename(a[0], a[1]) }, nil
	},
	"link": func(a []string) (func() error, error) {
		return func() error { return unix.Link(a[0], a[1]) }, nil
	},
	"symlink": func(a []string) (func() error, error) {
		return func() error { return unix.Symlink(a[0], a[1]) }, nil
	},
	"readlink": func(a []string) (func() error, error) {
		return func() error {
			_, err := unix.Readlink(a[0], make([]byte, 256))
			return err
		}, nil
	},
	"stat": func(a []string) (func() error, error) {
		return func() error {
			var st unix.Stat_t
			return unix.Stat(a[0], &st)
		}, nil
	},
	// fstat-pipe: fstat of a pipe, which no grant can name, must keep
	// working in a sandbox.
	"fstat-pipe": func([]string) (func() error, error) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return nil, err
		}
		return func() error {
			var st unix.Stat_t
			return unix.Fstat(p[0], &st)
		}, nil
	},
	"setxattr": func(a []string) (func() error, error) {
		return func() error { return unix.Setxattr(a[0], testXattr, []byte("new"), 0) }, nil
	},
	"getxattr": func(a []string) (func() error, error) {
		return func() error {
			_, err := unix.Getxattr(a[0], testXattr, make([]byte, 64))
			return err
		}, nil
	},
	"listxattr": func(a []string) (func() error, error) {
		return func() error {
			_, err := unix.Listxattr(a[0], make([]byte, 256))
			return err
		}, nil
	},
	"removexattr": func(a []string) (func() error, error) {
		return func() error { return unix.Removexattr(a[0], testXattr) }, nil
	},
	"mmap-exec": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error {
			mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE)
			if err != nil {
				return err
			}
			return unix.Munmap(mem)
		}, nil
	},
	"mprotect-exec": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
		if err != nil {
			return nil, err
		}
		return func() error { return unix.Mprotect(mem, unix.PROT_READ|unix.PROT_EXEC) }, nil
	},
	// exec replaces the child with args[0] (a copy of this test binary)
	// running the operation args[1:], whose result line it prints itself.
	"exec": func(a []string) (func() error, error) {
		return func() error { return unix.Exec(a[0], []string{a[0]}, helperEnv(a[1], a[2:], true)) }, nil
	},
	"execveat": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error { return vfsops.Exec(fd, []string{a[0]}, helperEnv(a[1], a[2:], true)) }, nil
	},
	// spawn runs the operation args[1:] in a grandchild (a copy of this
	// test binary at args[0]) forked after the mark.
	"spawn": func(a []string) (func() error, error) {
		return func() error {
			cmd := exec.Command(a[0])
			cmd.Env = helperEnv(a[1], a[2:], true)
			// Files, not nil: nil would make os/exec open /dev/null,
			// which the sandbox may not.
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("grandchild: %w", err)
			}
			os.Exit(0) // the grandchild reported
			return nil
		}, nil
	},
	"bind-mount": func(a []string) (func() error, error) {
		return func() error { return unix.Mount(a[0], a[1], "", unix.MS_BIND, "") }, nil
	},
	"bind-mount-procfd": func(a []string) (func() error, error) {
		fd, err := unix.Open(a[0], unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return func() error { return unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), a[1], "", unix.MS_BIND, "") }, nil
	},
	"open-tree-move": func(a []string) (func() error, error) {
		return func() error {
			tree, err := unix.OpenTree(unix.AT_FDCWD, a[0], unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				return fmt.Errorf("open_tree: %w", err)
			}
			defer unix.Close(tree)
			return unix.MoveMount(tree, "", unix.AT_FDCWD, a[1], unix.MOVE_MOUNT_F_EMPTY_PATH)
		}, nil
	},
	// pivot-root runs in a mount namespace of its own (see mountNSOps):
	// it mounts a tmpfs on args[0] with another tmpfs "new" inside,
	// chroots into the first (pivot_root refuses the initramfs root the
	// VM runs on) and pivots to "new", keeping the old root in new/old.
	"pivot-root": func(a []string) (func() error, error) {
		if err := unix.Mount("capfd-root", a[0], "tmpfs", 0, ""); err != nil {
			return nil, err
		}
		newRoot := a[0] + "/new"
		if err := os.Mkdir(newRoot, 0o755); err != nil {
			return nil, err
		}
		if err := unix.Mount("capfd-new", newRoot, "tmpfs", 0, ""); err != nil {
			return nil, err
		}
		if err := os.Mkdir(newRoot+"/old", 0o755); err != nil {
			return nil, err
		}
		if err := unix.Chroot(a[0]); err != nil {
			return nil, err
		}
		if err := unix.Chdir("/"); err != nil {
			return nil, err
		}
		return func() error { return unix.PivotRoot("/new", "/new/old") }, nil
	},
	// getfd-parent takes the parent's stdout with pidfd_getfd, which
	// needs ptrace access to the parent.
	"getfd-parent": func([]string) (func() error, error) {
		pidfd, err := unix.PidfdOpen(os.Getppid(), 0)
		if err != nil {
			return nil, err
		}
		return func() error {
			fd, err := unix.PidfdGetfd(pidfd, 1, 0)
			if err != nil {
				return err
			}
			return unix.Close(fd)
		}, nil
	},
	"umount": func(a []string) (func() error, error) {
		return func() error { return unix.Unmount(a[0], 0) }, nil
	},
}

const testXattr = "trusted.capfd"

// mountNSOps run in a mount namespace of their own, so that what they mount
// vanishes with them.
var mountNSOps = map[string]bool{"pivot-root": true}

func runOp(name string, args []string) error {
	prepare, ok := ops[name]
	if !ok {
		return fmt.Errorf("unknown operation %q", name)
	}
	if os.Getenv(envThread) == "1" {
		return onOtherThread(func() error { return prepareAndRun(prepare, args) })
	}
	return prepareAndRun(prepare, args)
}

func prepareAndRun(prepare op, args []string) error {
	action, err := prepare(args)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := handshake(); err != nil {
		return err
	}
	return action()
}

// onOtherThread runs fn on an OS thread that is not the thread-group
// leader and that exists before the parent marks the process, so the test
// sees marks reach threads through their leader.
func onOtherThread(fn func() error) error {
	result := make(chan error, 1)
	var attempt func()
	attempt = func() {
		// Never unlocked: the thread exits with its goroutine.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// This is the leader. Keep it busy, locked to this
			// goroutine, so the retry has to run on another thread.
			go attempt()
			select {}
		}
		result <- fn()
	}
	go attempt()
	return <-result
}

// helperEnv is the environment that makes this test binary run operation op.
func helperEnv(op string, args []string, noHandshake bool) []string {
	if args == nil {
		args = []string{}
	}
	encoded, _ := json.Marshal(args)
	env := []string{envOp + "=" + op, envArgs + "=" + string(encoded)}
	if noHandshake {
		env = append(env, envNoHandshake+"=1")
	}
	return env
}

// mapFileOf returns the /proc/self/map_files entry of a mapping of path,
// mapping the file first.
func mapFileOf(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return "", err
	}
	// Left mapped: the entry lives as long as the mapping.
	start := uintptr(unsafe.Pointer(&mem[0]))
	return fmt.Sprintf("/proc/self/map_files/%x-%x", start, start+uintptr(len(mem))), nil
}

func openClose(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// child is the parent's handle on a helper process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// startChild starts the helper for op and waits until it is ready, that is
// prepared and not yet acting. Set thread to run the operation on a thread
// other than the leader.
func startChild(t *testing.T, thread bool, op string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv(op, args, false)...)
	if thread {
		cmd.Env = append(cmd.Env, envThread+"=1")
	}
	cmd.Stderr = os.Stderr
	if mountNSOps[op] {
		// os/exec also makes / private in the new namespace, which
		// pivot_root requires.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	line, err := c.stdout.ReadString('\n')
	if line != "ready\n" {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		t.Fatalf("helper %s %q: want ready, got %q (%v)", op, args, line, err)
	}
	return c
}

// pid returns the child's pid; it cannot be reused before finish waits.
func (c *child) pid() int { return c.cmd.Process.Pid }

// finish lets the child act and returns the outcome: nil, the errno that
// refused the operation, or another error.
func (c *child) finish(t *testing.T) error {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatalf("helper: send go: %v", err)
	}
	line, _ := c.stdout.ReadString('\n')
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper exited with %v after %q", err, line)
	}
	return parseResult(line)
}

func parseResult(line string) error {
	line = strings.TrimSuffix(line, "\n")
	switch {
	case line == "ok":
		return nil
	case strings.HasPrefix(line, "errno "):
		num, _, _ := strings.Cut(strings.TrimPrefix(line, "errno "), " ")
		n, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("bad helper result %q", line)
		}
		return syscall.Errno(n)
	default:
		return fmt.Errorf("helper: %q", line)
	}
}
