//go:build linux

package lsm

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Mark confines the process pidfd refers to as a member of sandbox: from now
// on every hook checks its operations against the sandbox's grants. Its
// threads find the mark through their thread-group leader, and children it
// forks later get a copy before they first run.
//
// A pidfd, not a pid, names the process so that a recycled pid can never
// confine (or free) the wrong one. Sandbox 0 is reserved for "unmarked".
func (e *Enforcer) Mark(pidfd int, sandbox uint32) error {
	if sandbox == 0 {
		return errors.New("BPF LSM: mark: sandbox 0 is reserved")
	}
	if pidfd < 0 {
		return fmt.Errorf("BPF LSM: mark: invalid pidfd %d", pidfd)
	}
	if err := e.marks.Update(int32(pidfd), capfdMark{Sandbox: sandbox}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("BPF LSM: mark pidfd %d as sandbox %d: %w", pidfd, sandbox, err)
	}
	return nil
}

// MarkPID is Mark for a process known by pid. It is only safe for a child of
// the caller that has not been waited for: such a pid cannot be reused.
func (e *Enforcer) MarkPID(pid int, sandbox uint32) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("BPF LSM: mark pid %d: pidfd_open: %w", pid, err)
	}
	defer unix.Close(pidfd)
	return e.Mark(pidfd, sandbox)
}

// Unmark removes the mark of the process pidfd refers to, for all its
// threads. Children it forked while marked carry copies of their own and stay
// confined (unmark them by their own pidfds).
func (e *Enforcer) Unmark(pidfd int) error {
	if pidfd < 0 {
		return fmt.Errorf("BPF LSM: unmark: invalid pidfd %d", pidfd)
	}
	if err := e.marks.Delete(int32(pidfd)); err != nil {
		return fmt.Errorf("BPF LSM: unmark pidfd %d: %w", pidfd, err)
	}
	return nil
}

// SandboxOf returns the sandbox the process pidfd refers to is marked with,
// or 0 if it carries no mark of its own.
func (e *Enforcer) SandboxOf(pidfd int) (uint32, error) {
	var m capfdMark
	err := e.marks.Lookup(int32(pidfd), &m)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("BPF LSM: look up mark of pidfd %d: %w", pidfd, err)
	}
	return m.Sandbox, nil
}
