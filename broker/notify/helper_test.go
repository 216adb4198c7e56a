package notify

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// The tests run a copy of the test binary as the confined program: with
// childEnv set, TestMain runs childMain instead of the tests. The child
// installs the filter (unless told to run unconfined, to show an attack
// works without it), hands the listener to the test over fd 3, waits for
// the go-ahead and then performs its steps with raw syscalls, printing one
// line per step: "ok[ DETAIL]" or the errno name.
const (
	childEnv      = "NOTIFY_TEST_CHILD"
	unconfinedEnv = "NOTIFY_TEST_UNCONFINED"
	unionEnv      = "NOTIFY_TEST_UNION"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func childMain(steps []string) int {
	sock := 3
	if os.Getenv(unconfinedEnv) != "1" {
		union, err := rights.Parse(os.Getenv(unionEnv))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 97
		}
		listener, err := Filter(union).Install()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 98
		}
		if err := SendFd(sock, listener); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 98
		}
		unix.Close(listener)
		var b [1]byte
		if n, _ := unix.Read(sock, b[:]); n != 1 {
			return 99
		}
	}
	unix.Close(sock)
	out := bufio.NewWriter(os.Stdout)
	for _, step := range steps {
		fmt.Fprintln(out, runStep(step))
	}
	out.Flush()
	return 0
}

func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// runStep performs one "op:arg:arg" step.
func runStep(step string) string {
	op, rest, _ := strings.Cut(step, ":")
	args := strings.Split(rest, ":")
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch op {
	case "read": // open O_RDONLY and read the content
		fd, err := unix.Open(arg(0), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(fd)
		var b [256]byte
		n, err := unix.Read(fd, b[:])
		if err != nil {
			return "read " + errText(err)
		}
		return "ok " + strings.TrimSpace(string(b[:n]))
	case "write": // open O_WRONLY|O_CREAT|O_TRUNC and write arg(1)
		fd, err := unix.Open(arg(0), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(fd)
		if _, err := unix.Write(fd, []byte(arg(1))); err != nil {
			return "write " + errText(err)
		}
		return "ok"
	case "readat": // open arg(0) as a directory, then openat(dirfd, arg(1))
		dfd, err := unix.Open(arg(0), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "dir " + errText(err)
		}
		defer unix.Close(dfd)
		fd, err := unix.Openat(dfd, arg(1), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(fd)
		var b [256]byte
		n, _ := unix.Read(fd, b[:])
		return "ok " + strings.TrimSpace(string(b[:n]))
	case "beneath", "inroot", "nosymlinks": // openat2(dirfd of arg(0), arg(1), RESOLVE_*)
		resolve := map[string]uint64{"beneath": unix.RESOLVE_BENEATH, "inroot": unix.RESOLVE_IN_ROOT, "nosymlinks": unix.RESOLVE_NO_SYMLINKS}[op]
		dfd, err := unix.Open(arg(0), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "dir " + errText(err)
		}
		defer unix.Close(dfd)
		fd, err := unix.Openat2(dfd, arg(1), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: resolve})
		if err != nil {
			return errText(err)
		}
		defer unix.Close(fd)
		var b [64]byte
		n, _ := unix.Read(fd, b[:])
		return "ok " + strings.TrimSpace(string(b[:n]))
	case "reopen-write": // open arg(0) read-only, then reopen it for writing through /proc/self/fd
		fd, err := unix.Open(arg(0), unix.O_RDONLY, 0)
		if err != nil {
			return "open " + errText(err)
		}
		defer unix.Close(fd)
		wfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errText(err)
		}
		unix.Close(wfd)
		return "ok"
	case "opath": // open arg(0) O_PATH (arg(1): "nofollow", "dir"), then opathStep arg(2) with arg(3)
		flags := unix.O_PATH | unix.O_CLOEXEC
		if strings.Contains(arg(1), "nofollow") {
			flags |= unix.O_NOFOLLOW
		}
		if strings.Contains(arg(1), "dir") {
			flags |= unix.O_DIRECTORY
		}
		fd, err := unix.Open(arg(0), flags, 0)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(fd)
		return opathStep(fd, arg(0), flags, arg(2), arg(3))
	case "walk": // rsync's walk: "/" O_PATH, then each component of arg(0) O_PATH|O_NOFOLLOW, then read arg(1)
		fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "/ " + errText(err)
		}
		for _, name := range strings.Split(strings.Trim(arg(0), "/"), "/") {
			next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			if err != nil {
				return name + " " + errText(err)
			}
			fd = next
		}
		defer unix.Close(fd)
		return opathStep(fd, arg(0), 0, "at", arg(1))
	case "cloexec": // is O_CLOEXEC honoured on the installed fd?
		res := ""
		for _, flags := range []int{unix.O_RDONLY, unix.O_RDONLY | unix.O_CLOEXEC} {
			fd, err := unix.Open(arg(0), flags, 0)
			if err != nil {
				return errText(err)
			}
			fdflags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			unix.Close(fd)
			res += fmt.Sprintf(" %d", fdflags&unix.FD_CLOEXEC)
		}
		return "ok" + res
	case "stat":
		var st unix.Stat_t
		if err := unix.Stat(arg(0), &st); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("ok size=%d mode=%o", st.Size, st.Mode&unix.S_IFMT)
	case "isdir": // stat, and say whether it is a directory
		var st unix.Stat_t
		if err := unix.Stat(arg(0), &st); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("ok dir=%t", st.Mode&unix.S_IFMT == unix.S_IFDIR)
	case "lstat":
		var st unix.Stat_t
		if err := unix.Lstat(arg(0), &st); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("ok size=%d mode=%o", st.Size, st.Mode&unix.S_IFMT)
	case "fstat": // fstat through fstatat(fd, "", AT_EMPTY_PATH), as glibc does
		fd, err := unix.Open(arg(0), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open " + errText(err)
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("ok size=%d", st.Size)
	case "statx":
		var stx unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, arg(0), 0, unix.STATX_BASIC_STATS, &stx); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("ok size=%d mask=%t", stx.Size, stx.Mask&unix.STATX_SIZE != 0)
	case "access":
		mode := map[string]uint32{"r": unix.R_OK, "w": unix.W_OK, "f": unix.F_OK}[arg(1)]
		if err := unix.Access(arg(0), mode); err != nil {
			return errText(err)
		}
		return "ok"
	case "readlink":
		var b [256]byte
		n, err := unix.Readlink(arg(0), b[:])
		if err != nil {
			return errText(err)
		}
		return "ok " + string(b[:n])
	case "mkdir":
		return okOr(unix.Mkdir(arg(0), 0o755))
	case "unlink":
		return okOr(unix.Unlink(arg(0)))
	case "rmdir":
		return okOr(unix.Rmdir(arg(0)))
	case "rename":
		return okOr(unix.Rename(arg(0), arg(1)))
	case "symlink":
		return okOr(unix.Symlink(arg(0), arg(1)))
	case "chdir": // chdir runs natively: the cwd is a name, not authority
		return okOr(unix.Chdir(arg(0)))
	case "truncate":
		return okOr(unix.Truncate(arg(0), 1))
	case "chmod":
		return okOr(unix.Chmod(arg(0), 0o600))
	case "efault": // a path pointer into unmapped memory
		_, _, errno := unix.Syscall6(unix.SYS_OPENAT, atFdcwd, 8, unix.O_RDONLY, 0, 0, 0)
		return unix.ErrnoName(errno)
	case "toolong": // PATH_MAX bytes without a NUL
		long := bytes.Repeat([]byte{'a'}, pathMax+16)
		_, _, errno := unix.Syscall6(unix.SYS_OPENAT, atFdcwd, uintptr(unsafe.Pointer(&long[0])), unix.O_RDONLY, 0, 0, 0)
		return unix.ErrnoName(errno)
	case "race": // open arg(0) while another thread keeps swapping in arg(1)
		return raceStep(arg(0), arg(1))
	case "mount":
		return okOr(unix.Mount("none", arg(0), "tmpfs", 0, ""))
	case "fifo": // a FIFO opened by two tasks: must not deadlock the supervisor
		var wg sync.WaitGroup
		wg.Add(1)
		var got string
		go func() {
			defer wg.Done()
			fd, err := unix.Open(arg(0), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				got = "reader " + errText(err)
				return
			}
			var b [16]byte
			n, _ := unix.Read(fd, b[:])
			unix.Close(fd)
			got = "ok " + string(b[:n])
		}()
		fd, err := unix.Open(arg(0), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "writer " + errText(err)
		}
		unix.Write(fd, []byte("via-fifo"))
		unix.Close(fd)
		wg.Wait()
		return got
	}
	return "bad step " + step
}

func okOr(err error) string {
	if err != nil {
		return errText(err)
	}
	return "ok"
}

// runChild runs steps in a child of the test binary, confined by a
// Supervisor over grants unless unconfined, from directory dir. It returns
// one result per step and the supervisor's log.
func runChild(t *testing.T, grants []Grant, unconfined bool, dir string, steps ...string) ([]string, string) {
	t.Helper()
	return runChildServed(t, grants, unconfined, dir, (*Supervisor).Serve, steps...)
}

// runChildServed is runChild with the serving loop given: the supervisor's
// own, or a deliberately naive one to show what an attack would do to it.
func runChildServed(t *testing.T, grants []Grant, unconfined bool, dir string, serve func(*Supervisor, int) error, steps ...string) ([]string, string) {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parentSock := pair[0]
	childSock := os.NewFile(uintptr(pair[1]), "child-sock")
	defer unix.Close(parentSock)

	var log bytes.Buffer
	var logMu sync.Mutex
	sup, err := New(Config{Grants: grants, Log: lockedWriter{&log, &logMu}})
	if err != nil {
		childSock.Close()
		t.Fatal(err)
	}
	defer sup.Close()

	cmd := exec.Command(os.Args[0], steps...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=1", unionEnv+"="+sup.grants.union().String())
	if unconfined {
		cmd.Env = append(cmd.Env, unconfinedEnv+"=1")
	}
	cmd.ExtraFiles = []*os.File{childSock}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		childSock.Close()
		t.Fatal(err)
	}
	childSock.Close()

	served := make(chan error, 1)
	if !unconfined {
		listener, err := RecvFd(parentSock)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v (child stderr: %s)", err, stderr.String())
		}
		go func() {
			err := serve(sup, listener)
			unix.Close(listener)
			served <- err
		}()
		if _, err := unix.Write(parentSock, []byte{'G'}); err != nil {
			t.Fatal(err)
		}
	} else {
		served <- nil
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\nstderr: %s", err, stderr.String())
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) != len(steps) {
		t.Fatalf("child printed %d lines for %d steps:\n%s\nstderr: %s", len(lines), len(steps), stdout.String(), stderr.String())
	}
	logMu.Lock()
	defer logMu.Unlock()
	return lines, log.String()
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// atFdcwd is AT_FDCWD as a raw syscall argument.
var atFdcwd = func() uintptr { fd := int64(unix.AT_FDCWD); return uintptr(fd) }()

// raceStep opens path a in a loop for up to 5 s while another thread keeps
// overwriting the path buffer with b and back, the classic attack on a
// supervisor that checks a path and then lets the kernel re-read it
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE). It reports "leaked N" as soon as an
// open returns anything but a's content, else "held N" (N: opens tried).
// a and b must have equal length.
func raceStep(a, b string) string {
	if len(a) != len(b) {
		return "race: paths differ in length"
	}
	words := (len(a) + 1 + 7) / 8
	buf := make([]uint64, words) // NUL-terminated, word-aligned
	pack := func(s string) []uint64 {
		raw := make([]byte, words*8)
		copy(raw, s)
		out := make([]uint64, words)
		for i := range out {
			out[i] = binary.NativeEndian.Uint64(raw[8*i:])
		}
		return out
	}
	wa, wb := pack(a), pack(b)
	for i := range buf {
		buf[i] = wa[i]
	}
	// Read before the race: the allowed file's content. Anything else an
	// open of the buffer returns came from b.
	contentA, err := os.ReadFile(a)
	if err != nil {
		return "race: " + err.Error()
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		for !stop.Load() {
			for i := range buf {
				atomic.StoreUint64(&buf[i], wb[i])
			}
			for i := range buf {
				atomic.StoreUint64(&buf[i], wa[i])
			}
		}
	}()
	defer func() { stop.Store(true); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	p := uintptr(unsafe.Pointer(&buf[0]))
	var tries int
	for tries = 0; time.Now().Before(deadline); tries++ {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, atFdcwd, p, unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if errno != 0 {
			continue
		}
		var got [64]byte
		n, _ := unix.Read(int(fd), got[:])
		unix.Close(int(fd))
		if n > 0 && string(got[:n]) != string(contentA) {
			return fmt.Sprintf("leaked %d", tries)
		}
	}
	return fmt.Sprintf("held %d", tries)
}

func asPointerTo[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// opathStep does one thing with an O_PATH descriptor fd of name (opened
// with flags): what programs do with one.
func opathStep(fd int, name string, flags int, op, arg string) string {
	readAll := func(fd int) string {
		var b [256]byte
		n, err := unix.Read(fd, b[:])
		if err != nil {
			return "read " + errText(err)
		}
		return strings.TrimSpace("ok " + string(b[:n]))
	}
	switch op {
	case "":
		return "ok"
	case "fstat": // glibc's fstat: fstatat(fd, "", AT_EMPTY_PATH)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("ok mode=%o size=%d", st.Mode&unix.S_IFMT, st.Size)
	case "same": // is it the object the name names? (dev and inode)
		var st, want unix.Stat_t
		if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH); err != nil {
			return errText(err)
		}
		statFlags := 0
		if flags&unix.O_NOFOLLOW != 0 {
			statFlags = unix.AT_SYMLINK_NOFOLLOW
		}
		if err := unix.Fstatat(unix.AT_FDCWD, name, &want, statFlags); err != nil {
			return "name " + errText(err)
		}
		return fmt.Sprintf("ok same=%v", st.Dev == want.Dev && st.Ino == want.Ino)
	case "readlink": // readlinkat(fd, "")
		var b [256]byte
		n, err := unix.Readlinkat(fd, "", b[:])
		if err != nil {
			return errText(err)
		}
		return "ok " + string(b[:n])
	case "at": // openat(fd, arg) and read it
		f, err := unix.Openat(fd, arg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(f)
		return readAll(f)
	case "list": // getdents64 on it: the names, sorted
		var names []string
		buf := make([]byte, 4096)
		for {
			n, err := unix.Getdents(fd, buf)
			if err != nil {
				return errText(err)
			}
			if n == 0 {
				break
			}
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
		}
		sort.Strings(names)
		return strings.TrimSpace("ok " + strings.Join(names, ","))
	case "read":
		return readAll(fd)
	case "reopen": // open /proc/self/fd/N for reading: the upgrade
		f, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(f)
		return readAll(f)
	case "chmodproc": // gnulib's lchmod: chmod through /proc/self/fd/N
		return okOr(unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), 0o600))
	case "fchmod":
		return okOr(unix.Fchmod(fd, 0o600))
	case "fchdir": // fchdir to it, then read arg relative to the cwd
		if err := unix.Fchdir(fd); err != nil {
			return "fchdir " + errText(err)
		}
		f, err := unix.Open(arg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errText(err)
		}
		defer unix.Close(f)
		return readAll(f)
	}
	return "unknown opath step " + op
}
