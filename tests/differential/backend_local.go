package differential

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capfd/capfd/capfd"
)

// local is the library's own checks: capfd.OpenDir on the grant (and on
// the nested grant for the nested shape) with the case's pairs, and the
// Dir and File methods.
type local struct{}

func (local) Name() string     { return "local" }
func (local) Available() error { return nil }

func (local) Inexpressible(c *Case) string {
	switch c.Action.RenameFlags {
	case "noreplace":
		return "Dir.Rename chooses RENAME_NOREPLACE itself (when the handle lacks unlink): the caller cannot ask for it"
	case "exchange":
		return "Dir has no exchange"
	}
	return ""
}

func (local) Run(t *testing.T, cases []*Case, roots []string) []string {
	out := make([]string, len(cases))
	for i, c := range cases {
		out[i] = runLocal(c, roots[i])
	}
	return out
}

func runLocal(c *Case, root string) string {
	d, err := capfd.OpenDir(root, c.Outer)
	if err != nil {
		return "setup: " + err.Error()
	}
	defer d.Close()
	if c.Nested {
		inner, err := capfd.OpenDir(filepath.Join(root, "n"), c.Inner)
		if err != nil {
			return "setup: " + err.Error()
		}
		defer inner.Close()
		d = inner
	}
	return outcomeOf(dirAction(d, c.Action))
}

// dirAction performs a through the capfd.Dir API on d (local or remote).
func dirAction(d *capfd.Dir, a Action) error {
	fixed := time.Unix(fixedTime, 0)
	switch a.Kind {
	case "open":
		f, err := d.OpenFile(a.Path, a.OpenFlags(), 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	case "fd":
		f, err := d.OpenFile(a.Path, a.OpenFlags(), 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		return fileAction(f, a.FdOp)
	case "stat":
		_, err := d.Stat(a.Path)
		return err
	case "lstat":
		_, err := d.Lstat(a.Path)
		return err
	case "chmod":
		return d.Chmod(a.Path, os.FileMode(a.Mode))
	case "chown":
		return d.Chown(a.Path, chownUID, chownGID)
	case "utimens":
		return d.Chtimes(a.Path, fixed, fixed)
	case "truncate":
		return d.Truncate(a.Path, 0)
	case "readlink":
		_, err := d.Readlink(a.Path)
		return err
	case "mkdir":
		return d.Mkdir(a.Path, 0o755)
	case "unlink", "rmdir":
		return d.Remove(a.Path)
	case "symlink":
		return d.Symlink(a.Target, a.Path2)
	case "rename":
		return d.Rename(a.Path, d, a.Path2)
	case "link":
		return d.Link(a.Path, d, a.Path2)
	}
	panic("differential: no Dir spelling of " + a.Kind)
}

// fileAction performs the fd operation op on f, as op.c does.
func fileAction(f *capfd.File, op string) error {
	fixed := time.Unix(fixedTime, 0)
	buf := make([]byte, 1)
	var err error
	switch op {
	case "read":
		_, err = f.Read(buf)
	case "write", "append":
		_, err = f.Write([]byte("new\n"))
	case "pread":
		_, err = f.ReadAt(buf, 1)
	case "pwrite":
		_, err = f.WriteAt([]byte("X"), 1)
	case "seek":
		_, err = f.Seek(1, 0)
	case "fstat":
		_, err = f.Stat()
	case "ftruncate":
		err = f.Truncate(0)
	case "readdir":
		_, err = f.ReadDir(-1)
	case "fchmod":
		err = f.Chmod(0o600)
	case "fchown":
		err = f.Chown(chownUID, chownGID)
	case "futimes":
		err = f.Chtimes(fixed, fixed)
	case "sync":
		err = f.Sync()
	case "lock":
		err = f.Lock(true)
	case "xattr-get":
		_, err = f.GetXattr(fixtureXattr)
	case "xattr-list":
		_, err = f.ListXattr()
	case "xattr-set":
		err = f.SetXattr("user.new", []byte("1"), 0)
	case "xattr-remove":
		err = f.RemoveXattr(fixtureXattr)
	default:
		panic("differential: no File spelling of " + op)
	}
	return err
}
