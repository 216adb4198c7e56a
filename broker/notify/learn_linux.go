package notify

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
)

// learn hands a need to Config.Learn, if set.
func (s *Supervisor) learn(n Need) {
	if s.learner != nil && n.Path != "" {
		s.learner(n)
	}
}

// execve(path, argv, envp), notified only when learning.
func sysExecve(c *call) result { return c.learnExec(unix.AT_FDCWD, c.arg(0), 0) }

// execveat(dirfd, path, argv, envp, flags), notified only when learning.
func sysExecveat(c *call) result {
	return c.learnExec(c.argFd(0), c.arg(1), int(int32(c.arg(4))))
}

// learnExec records Exec on the program an exec names and resumes the
// call: the kernel decides it, on the file it actually reaches (Landlock's
// exec right), so recording a name that a racing thread changes only
// makes the learned grants wrong, never the run less confined. An exec of
// a descriptor (AT_EMPTY_PATH) was recorded when it was opened.
func (c *call) learnExec(dirfd int32, addr uint64, flags int) result {
	resume := result{resume: true, fd: -1}
	p, errno := c.readPath(addr, &c.path)
	if errno != 0 || p == "" && flags&unix.AT_EMPTY_PATH != 0 {
		return resume
	}
	l, errno := c.locate(dirfd, p)
	if errno != 0 {
		return resume
	}
	need := Need{Path: l.abs, Object: rights.Exec | rights.Lookup}
	if l.g == nil {
		need.Refused = true
	} else {
		object, _ := l.rightsAt()
		need.Refused = !object.Has(rights.Exec)
		if !need.Refused && !l.g.Learn {
			return resume
		}
	}
	c.s.learn(need)
	return resume
}
