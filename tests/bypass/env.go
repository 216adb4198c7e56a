package bypass

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Env is the fixture one attack runs in: a small tree in a temporary
// directory, and in the child the fds it was legitimately given.
type Env struct {
	Root string

	Granted    string // directory granted lookup, readdir, stat; files beneath read-only
	RO         string // granted/ro.txt: read-only
	RW         string // granted/rw.txt: read, write, truncate (no chmod, no unlink)
	AppendOnly string // granted/append.log: read and append, not write
	Prog       string // granted/prog: a copy of /bin/true, granted without exec

	// renamable/: lookup, readdir, stat, rename-from and rename-to, no
	// unlink; holds new.txt and keep.txt.
	Renamable string

	// outer/: lookup, readdir, stat and the rename rights on its entries,
	// write, truncate and create beneath; outer/inner/: a nested grant,
	// read-only, holding key.txt; outer/l -> inner and outer/sub/up -> ..,
	// made by the fixture.
	Outer, Inner string

	Sibling string // sibling/: never granted
	Secret  string // sibling/secret.txt

	Mnt string // mnt/: an empty directory, the target of the bind-mount attacks

	Bin    string // bin/: read + exec, holds the helpers below
	Helper string // bin/helper: the test binary (a hard link), run by children
	Victim string // bin/victim: a private copy of the test binary (exe attacks only)
	True   string // bin/true: a copy of /bin/true, granted exec

	// Opened by the child before it is confined, as a confined program
	// would have received them. -1 in the parent.
	ROFd      int // O_RDONLY on RO
	ROPathFd  int // O_PATH on RO
	GrantedFd int // O_PATH|O_DIRECTORY on Granted
}

// Contents the fixture starts with; attacks compare against them.
const (
	roContent     = "read-only: must never change\n"
	secretContent = "secret: must never be read\n"
	keepContent   = "keep: must never be replaced\n"
)

// envAt names the fixture paths under root.
func envAt(root string) *Env {
	e := &Env{Root: root, ROFd: -1, ROPathFd: -1, GrantedFd: -1}
	e.Granted = filepath.Join(root, "granted")
	e.RO = filepath.Join(e.Granted, "ro.txt")
	e.RW = filepath.Join(e.Granted, "rw.txt")
	e.AppendOnly = filepath.Join(e.Granted, "append.log")
	e.Prog = filepath.Join(e.Granted, "prog")
	e.Renamable = filepath.Join(root, "renamable")
	e.Outer = filepath.Join(root, "outer")
	e.Inner = filepath.Join(e.Outer, "inner")
	e.Sibling = filepath.Join(root, "sibling")
	e.Secret = filepath.Join(e.Sibling, "secret.txt")
	e.Mnt = filepath.Join(root, "mnt")
	e.Bin = filepath.Join(root, "bin")
	e.Helper = filepath.Join(e.Bin, "helper")
	e.Victim = filepath.Join(e.Bin, "victim")
	e.True = filepath.Join(e.Bin, "true")
	return e
}

// NewEnv builds a fresh fixture. helper is the suite's copy of the test
// binary (see suiteHelper), linked in as bin/helper; withVictim adds a
// private copy as bin/victim for the attacks that write their own exe.
func NewEnv(t testing.TB, helper string, withVictim bool) *Env {
	t.Helper()
	e := envAt(t.TempDir())
	for _, d := range []string{e.Granted, e.Renamable, e.Outer, e.Inner, filepath.Join(e.Outer, "sub"), e.Sibling, e.Mnt, e.Bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{e.RO, roContent, 0o644},
		{e.RW, "read-write\n", 0o644},
		{e.AppendOnly, "log line 1\n", 0o644},
		{e.Secret, secretContent, 0o644},
		{filepath.Join(e.Renamable, "new.txt"), "new\n", 0o644},
		{filepath.Join(e.Renamable, "keep.txt"), keepContent, 0o644},
		{filepath.Join(e.Inner, "key.txt"), roContent, 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("inner", filepath.Join(e.Outer, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(e.Outer, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{e.Prog, e.True} {
		if err := copyFile(trueBinary(t), dst, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(helper, e.Helper); err != nil {
		// Another filesystem: a copy serves as well.
		if err := copyFile(helper, e.Helper, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if withVictim {
		if err := copyFile(helper, e.Victim, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// open gives the child its pre-confinement fds. They are close-on-exec: an
// attack that wants one to survive exec opens its own.
func (e *Env) open() error {
	var err error
	if e.ROFd, err = unix.Open(e.RO, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("open %s: %w", e.RO, err)
	}
	if e.ROPathFd, err = unix.Open(e.RO, unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("open %s O_PATH: %w", e.RO, err)
	}
	if e.GrantedFd, err = unix.Open(e.Granted, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("open %s O_PATH: %w", e.Granted, err)
	}
	return nil
}

// suiteHelper copies the running test binary once per suite, so every
// fixture can hard-link it into its bin/ and the copy's inode belongs to
// the suite, not to the go build cache.
func suiteHelper(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "capfd-bypass.test")
	if err := copyFile(self, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// trueBinary is the program behind granted/prog: a small dynamically
// linked executable that exits 0, so running it proves exec happened.
func trueBinary(t testing.TB) string {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("no /bin/true to copy as granted/prog")
	return ""
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
