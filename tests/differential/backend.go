package differential

import (
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/capfd"
)

// Backend is one enforcement point under test.
type Backend interface {
	// Name is the layer's name in test names and the gap table.
	Name() string
	// Available returns nil, or why the layer cannot run here (the suite
	// then skips it, saying why).
	Available() error
	// Inexpressible returns "" when the layer can spell c, else why not
	// (a method the API does not have). Such cases are not run on it.
	Inexpressible(c *Case) string
	// Run performs every case on its own fresh fixture, roots[i], and
	// returns each one's outcome: "OK", or the errno's name
	// ("ENOTCAPABLE" for capfd's ErrNotCapable), or a description of any
	// other failure.
	Run(t *testing.T, cases []*Case, roots []string) []string
}

// Verdicts of an outcome.
const (
	allowed = "allowed"
	denied  = "denied"
	broken  = "error" // neither: the case itself failed, which is a bug somewhere
)

// verdict classifies an outcome. The layers refuse with different errnos
// (the library's ErrNotCapable, the supervisor's EACCES, Landlock's
// EACCES, seccomp's and the LSM's EPERM); anything else is no refusal by
// rights and counts as broken.
//
// A rename over an existing entry is the one exception: capfd.Dir.Rename
// refuses it, for want of unlink, by making it RENAME_NOREPLACE, so the
// refusal reads EEXIST (its documented spelling).
func verdict(c *Case, outcome string) string {
	if c.Op == "rename-over" && outcome == "EEXIST" {
		return denied
	}
	switch outcome {
	case "OK":
		return allowed
	case "ENOTCAPABLE", "EACCES", "EPERM":
		return denied
	}
	return broken
}

// outcomeOf names a Go error the way op.c names errnos.
func outcomeOf(err error) string {
	if err == nil {
		return "OK"
	}
	if errors.Is(err, capfd.ErrNotCapable) {
		return "ENOTCAPABLE"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
	}
	return "error: " + err.Error()
}

// bins are built once for the package by TestMain: the capfd command and
// op.c.
var bins struct {
	capfd, op string // op is "" when no C compiler can build it static
	err       error
}
