package notify

import "github.com/capfd/capfd/rights"

// Learning (capfd run --learn).
//
// With Config.Learn set, every request decided on a path is also handed to
// it as a Need: the rights it needed of the object and of the directory
// holding its entry, and whether it was refused. A grant marked Learn
// (capfd run --learn-allow puts one on "/") allows whatever no other grant
// decides, so one run records everything the program touches; what the
// grants refuse is recorded too, refused. The learner turns the needs into
// a grant file (launch/learn.go). In learning mode execve and execveat
// are notified as well, only to record the program executed (Exec on it):
// the kernel still decides them (Landlock), so the supervisor resumes them
// unchanged.

// CreatingRights are the directory rights of operations that make a new
// entry: what the skeleton refuses in an ancestor, and what tells the
// learner an entry was created by the run.
const CreatingRights = rights.Create | rights.Mkdir | rights.Symlink | rights.LinkTo | rights.RenameTo

// A Need is what one request needed of the files.
type Need struct {
	// Path is the absolute, clean path of the object.
	Path string
	// Object is needed on Path itself, Parent on the directory holding
	// its entry (a new entry, an unlink, a rename).
	Object, Parent rights.Rights
	// Refused: the grants refused it (else a grant, perhaps a learning
	// one, allowed it).
	Refused bool
}
