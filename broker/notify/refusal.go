package notify

import (
	"fmt"
	"time"

	"github.com/capfd/capfd/rights"
)

// A Refusal is one request the supervisor refused, or could not serve: one
// line of its log, and one event for Config.Report, which capfd run turns
// into its diagnostics and audit stream.
type Refusal struct {
	Time time.Time
	Pid  int
	// Kind is the log line's prefix: KindNotCapable (the rights or the
	// view refused it), KindNotSupported, KindLimit or KindRefused (the
	// supervisor would have to act as someone else).
	Kind string
	Op   string // the operation, as the rights name it: open, stat, chmod...
	// Path is the absolute path the program named (for a socket, the
	// address), "" when the request named none.
	Path string
	// Missing are the rights the operation needed and did not have.
	Missing rights.Rights
	// Why says where Path lies and what that holds: "outside every
	// grant", "grant /w has ro", "a symlink or mount leads outside grant
	// /w".
	Why string
	// Grant is the --grant that would allow it (PATH=RIGHTS), "" when no
	// grant would.
	Grant string
	// Outside: Path lies outside every grant (the answer was the view's).
	Outside bool
	// Probe: a stat-like probe, or a runtime reading optional system
	// information (/sys, the mount table); logged only when verbose.
	Probe bool
	// Absent: Path does not exist on the host either, and the operation
	// would not have made it, so the program was answered what a direct
	// run answers; only for refusals outside every grant, and found only
	// when Config.Report is set (it takes a lookup the answer never
	// depends on).
	Absent bool
	// creates: the operation makes a new entry, so Path's absence says
	// nothing.
	creates bool
}

// The kinds of Refusal.
const (
	KindNotCapable   = "not capable"
	KindNotSupported = "not supported"
	KindLimit        = "limit"
	KindRefused      = "refused"
)

// String is the refusal's log line: "capfd: not capable: open /etc/shadow
// (needs read, outside every grant; --grant /etc/shadow=ro would allow it)
// [pid 42]".
func (r Refusal) String() string {
	detail := r.Why
	if r.Missing != 0 {
		detail = fmt.Sprintf("needs %v, %s", r.Missing, r.Why)
	}
	if r.Grant != "" {
		detail += "; --grant " + r.Grant + " would allow it"
	}
	subject := r.Op
	if r.Path != "" {
		subject += " " + r.Path
	}
	if detail != "" {
		subject += " (" + detail + ")"
	}
	return fmt.Sprintf("capfd: %s: %s [pid %d]", r.Kind, subject, r.Pid)
}

// Key identifies the refusal's subject for counting distinct refusals:
// the same operation on the same path.
func (r Refusal) Key() string { return r.Op + " " + r.Path }
