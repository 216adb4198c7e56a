package launch

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The terminal relay.
//
// In capability mode the program runs in a session of its own, so no
// ioctl it makes on an inherited descriptor of the caller's terminal can
// reach the caller's session: TIOCSTI needs the terminal as the caller's
// controlling terminal (or CAP_SYS_ADMIN), and job-control signals have
// no foreground process group to go to. But an interactive program (a
// shell, an editor) then has no controlling terminal at all, so no job
// control. When the program's standard streams are the caller's terminal,
// the launcher therefore gives it a terminal of its own instead: a new
// pseudo-terminal, the controlling terminal of the program's session, and
// relays bytes between it and the caller's terminal, which it puts in raw
// mode meanwhile (so ^C, ^Z and the rest reach the program's line
// discipline as bytes, and its own terminal turns them into signals for
// its own foreground job). Whatever the program does to its terminal
// (TIOCSTI included, though the filter refuses that anyway) stays in the
// sandbox: the only thing that crosses is the bytes it writes, as with
// ssh or script(1). The window size follows the caller's (SIGWINCH).
//
// The pseudo-terminal comes from creack/pty, the window-size copy too;
// raw mode from golang.org/x/term.

// relay is a running terminal relay; nil when there is none.
type relay struct {
	master, slave *os.File
	tty           *os.File // the caller's terminal
	restore       *term.State
	stop          chan struct{}
	stopRead      *os.File // closed to wake the stdin copier
	wakeRead      *os.File
	done          sync.WaitGroup
	winch         chan os.Signal
	// ctty is the program's descriptor (0-2) of the new terminal, to be
	// made the controlling terminal of its session (startContained).
	ctty       int
	stdinIsTTY bool
	output     chan struct{} // closed when the program's output has ended
}

// startRelay gives cmd a pseudo-terminal of its own in place of the
// standard streams that are the caller's terminal (startContained makes it
// the controlling terminal of cmd's new session). It returns nil if no
// standard stream is a terminal.
func startRelay(cmd *exec.Cmd) (*relay, error) {
	streams := []*os.File{asFile(cmd.Stdin), asFile(cmd.Stdout), asFile(cmd.Stderr)}
	var tty *os.File
	for _, f := range streams {
		if f != nil && term.IsTerminal(int(f.Fd())) {
			tty = f
			break
		}
	}
	if tty == nil {
		return nil, nil
	}
	master, slave, err := pty.Open()
	if err != nil {
		return nil, err
	}
	r := &relay{master: master, slave: slave, tty: tty, stop: make(chan struct{}), winch: make(chan os.Signal, 1), output: make(chan struct{})}
	_ = pty.InheritSize(tty, master)
	ctty := -1
	for i, f := range streams {
		if f != nil && sameFile(f, tty) {
			streams[i] = slave
			if ctty < 0 {
				ctty = i
			}
		}
	}
	r.ctty, r.stdinIsTTY = ctty, streams[0] == slave
	cmd.Stdin, cmd.Stdout, cmd.Stderr = streams[0], streams[1], streams[2]
	return r, nil
}

// run starts relaying, once the program has started (and holds the
// slave): input from the caller's terminal if it is stdin, and the
// terminal's output (the program's, and the echo of what is typed) to it.
func (r *relay) run() error {
	// The launcher's copy of the slave would keep the master from ever
	// seeing the end (EIO) once the program's tree has closed it.
	r.slave.Close()
	state, err := term.MakeRaw(int(r.tty.Fd()))
	if err != nil {
		return err
	}
	r.restore = state
	signal.Notify(r.winch, syscall.SIGWINCH)
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		for {
			select {
			case <-r.winch:
				_ = pty.InheritSize(r.tty, r.master)
			case <-r.stop:
				return
			}
		}
	}()
	go func() {
		defer close(r.output)
		// Until the program's tree has closed the terminal (EIO).
		_, _ = io.Copy(r.tty, r.master)
	}()
	if r.stdinIsTTY {
		if r.wakeRead, r.stopRead, err = os.Pipe(); err != nil {
			return err
		}
		go r.copyInput()
	}
	return nil
}

// copyInput copies the caller's terminal to the program's, until stopped.
// It polls rather than blocks in read, so that once the program is gone
// it stops without taking a keystroke meant for whatever reads the
// terminal next.
func (r *relay) copyInput() {
	buf := make([]byte, 4096)
	fds := []unix.PollFd{{Fd: int32(r.tty.Fd()), Events: unix.POLLIN}, {Fd: int32(r.wakeRead.Fd()), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		n, err := unix.Read(int(r.tty.Fd()), buf)
		if n <= 0 || err != nil {
			return
		}
		if _, err := r.master.Write(buf[:n]); err != nil {
			return
		}
	}
}

// close stops the relay once the program's tree is gone: it waits for the
// program's last output (a while: without a PID namespace a detached
// process may hold the terminal open), and gives the caller's terminal its
// mode back.
func (r *relay) close() {
	if r == nil {
		return
	}
	if r.stopRead != nil {
		r.stopRead.Close()
	}
	close(r.stop)
	signal.Stop(r.winch)
	r.done.Wait()
	select {
	case <-r.output:
	case <-time.After(serveGrace):
	}
	r.master.Close()
	if r.wakeRead != nil {
		r.wakeRead.Close()
	}
	if r.restore != nil {
		_ = term.Restore(int(r.tty.Fd()), r.restore)
	}
}

func asFile(v any) *os.File {
	f, _ := v.(*os.File)
	return f
}

// sameFile reports whether a and b are the same open terminal (device).
func sameFile(a, b *os.File) bool {
	fa, errA := a.Stat()
	fb, errB := b.Stat()
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// crlf turns "\n" into "\r\n": the launcher's own messages reach the
// caller's terminal while it is in raw mode.
type crlf struct{ w io.Writer }

func (c crlf) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawSafe is log, made to write "\r\n" if it is a terminal (which the
// relay may put in raw mode; in cooked mode the extra "\r" is harmless).
func rawSafe(log io.Writer) io.Writer {
	if f, ok := log.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return crlf{f}
	}
	return log
}
