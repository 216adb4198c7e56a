package launch

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// runAsInit is stage 2's last step when it is the init of the program's
// PID namespace (see treeContainment): it starts the program as its child,
// passes on the signals the launcher forwards, reaps every process the
// namespace orphans, and when none is left exits with the program's status
// the way a shell reports it (128+N for a signal).
//
// Stage 2 stays init rather than exec'ing the program because an init gets
// no signal it has no handler for from inside its namespace: a program as
// pid 1 could not be stopped by `kill`, nor kill itself, as it can natively.
//
// The program inherits the confinement already in force (Landlock, the
// seccomp filter, the dropped capabilities: this thread forks it) and
// descriptors 0-2 and the broker's; the control socket is closed.
//
// newSession says the program has a session of its own, where the
// terminal's ^C and ^\ reach only the launcher, which forwards them here
// too; in the caller's session they reach the program directly.
func runAsInit(path string, argv []string, brokerFd int, newSession bool, execHint string) int {
	files := []uintptr{0, 1, 2}
	if brokerFd >= 0 {
		for len(files) < brokerFd {
			files = append(files, ^uintptr(0)) // closed in the program
		}
		files = append(files, uintptr(brokerFd))
	}
	// Before the fork, so no signal meant for the program is lost.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: files,
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "capfd run: %s\n", execError(path, err, execHint))
		return 127
	}
	go func() {
		for s := range sigs {
			// Under the caller's session ^C and ^\ reach the program
			// from the terminal itself (same foreground process group);
			// whatever comes from the launcher is passed on.
			if newSession || s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = unix.Kill(pid, s.(syscall.Signal))
			}
		}
	}()
	return reapAll(pid)
}

// reapAll waits for every child until none is left and returns the status
// of pid, shell-style. As init, every orphan of the namespace is a child.
func reapAll(pid int) int {
	status := 126
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return status // ECHILD: the tree is gone
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			status = ws.ExitStatus()
		case ws.Signaled():
			status = 128 + int(ws.Signal())
		}
	}
}
