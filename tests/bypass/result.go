package bypass

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Result is the child's one-line JSON report.
type Result struct {
	// Stage is where the child stopped: setup and confine are failures
	// of the harness or the backend, never a blocked attack.
	Stage string `json:"stage"`
	// Succeeded: the attack's forbidden effect happened.
	Succeeded bool `json:"succeeded"`
	// Errno names the errno that stopped it, if one did.
	Errno string `json:"errno,omitempty"`
	Error string `json:"error,omitempty"`
}

const (
	stageSetup   = "setup"
	stageConfine = "confine"
	stageAttack  = "attack"
)

func resultOf(stage string, err error) Result {
	r := Result{Stage: stage, Succeeded: stage == stageAttack && err == nil}
	if err != nil {
		r.Error = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			r.Errno = unix.ErrnoName(errno)
		}
	}
	return r
}

// err turns an attack result back into an error for a relaying process.
func (r Result) err() error {
	if r.Succeeded {
		return nil
	}
	if r.Errno != "" {
		if errno, ok := errnoNamed(r.Errno); ok {
			return fmt.Errorf("%s: %w", r.Error, errno)
		}
	}
	return errors.New(r.Error)
}

func (r Result) String() string {
	if r.Succeeded {
		return "succeeded"
	}
	return fmt.Sprintf("failed at %s: %s", r.Stage, r.Error)
}

func errnoNamed(name string) (syscall.Errno, bool) {
	for e := syscall.Errno(1); e < 256; e++ {
		if unix.ErrnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}
