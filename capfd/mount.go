package capfd

import (
	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// BindMount bind-mounts the file onto name beneath target (which must
// exist and be a file). f needs mount; target needs lookup and mount. The
// mount is made from the object f refers to, so no path to the source is
// resolved again. It needs CAP_SYS_ADMIN over the mount namespace.
func (f *File) BindMount(target *Dir, name string) error {
	if err := f.check("bindmount", vfsops.OpBindMount); err != nil {
		return err
	}
	return bindMount(f.t, f.h, &f.life, f.name, target, name)
}

// BindMount bind-mounts the directory d onto name beneath target (an
// existing directory). d needs mount in its Base rights; target needs
// lookup and mount.
func (d *Dir) BindMount(target *Dir, name string) error {
	if err := d.check("bindmount", vfsops.Request{Op: vfsops.OpBindMount}, vfsops.OnHandle, "."); err != nil {
		return err
	}
	return bindMount(d.t, d.h, &d.life, d.name, target, name)
}

func bindMount(t transport, h handleID, life *lifetime, srcName string, target *Dir, name string) error {
	if err := target.check("bindmount", vfsops.Request{Op: vfsops.OpBindMount}, vfsops.OnTargetDir, name); err != nil {
		return err
	}
	if t != target.t {
		return linkError("bindmount", srcName, name, unix.EXDEV)
	}
	if !life.acquire() {
		return closedError("bindmount", srcName)
	}
	defer func() {
		if life.release() {
			t.Close(h)
		}
	}()
	if err := target.use("bindmount", name); err != nil {
		return err
	}
	defer target.done()
	if err := t.BindMount(h, target.h, name, target.how); err != nil {
		return linkError("bindmount", srcName, name, err)
	}
	return nil
}
