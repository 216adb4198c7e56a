package enforce

// Child processes of the tests: the test binary re-executed with a role in
// the environment, which TestMain dispatches to before any test runs.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/capfd/capfd/capfd"
	"golang.org/x/sys/unix"
)

const (
	envRole = "CAPFD_ENFORCE_ROLE" // "wait", "marked" or "unmarked"
	envDir  = "CAPFD_ENFORCE_DIR"  // the fixture directory
	envSock = "CAPFD_ENFORCE_SOCK" // the broker's socket (marked)
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		os.Exit(childMain(role))
	}
	os.Exit(m.Run())
}

// step is one line of a child's report.
type step struct {
	Name  string `json:"name"`
	Errno int    `json:"errno"` // 0: succeeded
	Err   string `json:"err,omitempty"`
}

func emit(name string, err error) {
	s := step{Name: name}
	if err != nil {
		s.Err = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			s.Errno = int(errno)
		} else {
			s.Errno = -1 // failed without an errno: never an expected outcome
		}
	}
	line, _ := json.Marshal(s)
	fmt.Printf("%s\n", line)
}

func childMain(role string) int {
	dir := os.Getenv(envDir)
	switch role {
	case "wait":
		// A process for OnConnect to mark (fake backend): lives until
		// its stdin closes.
		bufio.NewReader(os.Stdin).ReadString('\n')
	case "unmarked":
		bypassAttempts(dir)
	case "marked":
		markedClient(dir, os.Getenv(envSock))
	default:
		fmt.Printf("unknown role %q\n", role)
		return 1
	}
	return 0
}

// markedClient connects (and so is marked), uses the broker as intended,
// then tries to go around it; after disconnecting it waits for the parent's
// go-ahead and tries the direct read again.
func markedClient(dir, sock string) {
	r, err := capfd.Dial(sock)
	emit("dial", err)
	if err != nil {
		return
	}
	granted, err := r.Dir("granted")
	if err != nil {
		emit("broker-read", err)
		return
	}
	data, err := granted.ReadFile("file")
	if err == nil && !bytes.Equal(data, []byte(grantedContent)) {
		err = fmt.Errorf("read %q through the broker, want %q", data, grantedContent)
	}
	emit("broker-read", err)

	// The descriptor the broker passes for a read-only capability is
	// O_RDONLY; the upgrade attack re-opens it through its magic link.
	f, err := granted.Open("file")
	if err == nil {
		if fd := f.Fd(); fd == ^uintptr(0) {
			err = errors.New("the broker passed no descriptor")
		} else {
			err = openClose("/proc/self/fd/"+strconv.Itoa(int(fd)), unix.O_RDWR)
		}
	}
	emit("reopen-passed-fd", err)

	bypassAttempts(dir)

	emit("disconnect", r.Close())
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || line != "go\n" {
		emit("after-disconnect", fmt.Errorf("waiting for go: got %q, %v", line, err))
		return
	}
	emit("after-disconnect", openClose(dir+"/granted/file", unix.O_RDONLY))
}

// bypassAttempts are the same system calls for a marked and an unmarked
// process: the first is within the grant, the others are not.
func bypassAttempts(dir string) {
	emit("open-rdonly", openClose(dir+"/granted/file", unix.O_RDONLY))
	emit("open-rdwr", openClose(dir+"/granted/file", unix.O_RDWR))
	emit("open-sibling", openClose(dir+"/secret/file", unix.O_RDONLY))
	fd, err := unix.Open(dir+"/granted/file", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = openClose("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR)
		unix.Close(fd)
	}
	emit("reopen-procfd", err)
}

func openClose(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return unix.Close(fd)
}
