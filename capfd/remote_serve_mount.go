package capfd

import (
	"errors"
	"fmt"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// BindMount bind-mounts s's object (a file or a directory handle) onto
// targetPath beneath the directory handle to, as File.BindMount and
// Dir.BindMount do: s needs mount on itself, to needs lookup and mount
// (the vfsops table's two operands), and both are checked before any
// system call. The mount is made in the mount namespace of the process
// serving s (the broker's), not the client's.
func (s *Served) BindMount(to *Served, targetPath string, extra Resolve) error {
	const opName = "bindmount"
	if err := s.checkSelf(opName, vfsops.OpBindMount); err != nil {
		return err
	}
	target, err := to.asDir(opName, targetPath)
	if err != nil {
		return err
	}
	if to.placing() {
		a, err := to.placeAt(opName, targetPath, extra, lookupFinal, false)
		if err != nil {
			return err
		}
		defer a.close()
		return placedPath(s.BindMount(a.ps, a.name, extra), targetPath)
	}
	if err := target.check(opName, vfsops.Request{Op: vfsops.OpBindMount}, vfsops.OnTargetDir, targetPath); err != nil {
		return err
	}
	t, h, done, err := s.acquire(opName)
	if err != nil {
		return err
	}
	defer done()
	if err := target.use(opName, targetPath); err != nil {
		return err
	}
	defer target.done()
	// Both handles belong to the serving process's local transport: a
	// Served is only ever made from local handles.
	if err := t.BindMount(h, target.h, targetPath, how(target, extra)); err != nil {
		return linkError(opName, s.Name(), targetPath, mountPrivilege(err))
	}
	return nil
}

// mountPrivilege says why the kernel refused: open_tree(OPEN_TREE_CLONE)
// and move_mount fail with EPERM when the caller lacks CAP_SYS_ADMIN over
// its mount namespace, which, once the rights have passed, is a fact about
// how the broker was started, not about the client's request.
func mountPrivilege(err error) error {
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	return fmt.Errorf("the serving process lacks CAP_SYS_ADMIN over its mount namespace: %w", unix.EPERM)
}
