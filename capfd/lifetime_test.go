package capfd

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/capfd/capfd/internal/childtest"
	"github.com/capfd/capfd/rights"
	"golang.org/x/sys/unix"
)

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	checkNoFdLeak(t)
	_, d := tree(t, rights.Uniform(rights.All))
	f, err := d.Open("file")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := d.OpenDir("sub", d.Rights())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		close func() error
		use   func() error
	}{
		{"File", f.Close, func() error { _, err := f.Read(make([]byte, 1)); return err }},
		{"Dir", sub.Close, func() error { _, err := sub.Stat("inner"); return err }},
	} {
		if err := c.close(); err != nil {
			t.Fatalf("%s: first Close: %v", c.name, err)
		}
		if err := c.close(); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("%s: second Close = %v, want fs.ErrClosed", c.name, err)
		}
		if err := c.use(); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("%s: use after Close = %v, want fs.ErrClosed", c.name, err)
		}
	}
	if fd := f.Fd(); fd != ^uintptr(0) {
		t.Fatalf("Fd after Close = %d, want ^uintptr(0)", fd)
	}
}

// TestCloseWhileInUse: Close racing with calls never lets a call act on a
// descriptor number the kernel has reused: every call either works on the
// file or fails with fs.ErrClosed, and the descriptor is released in the
// end (run with -race).
func TestCloseWhileInUse(t *testing.T) {
	checkNoFdLeak(t)
	root, d := tree(t, rights.Uniform(rights.All))
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		f, err := d.Open("big")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				buf := make([]byte, 512)
				for {
					_, err := f.ReadAt(buf, 0)
					if errors.Is(err, fs.ErrClosed) {
						return
					}
					if err != nil && err != io.EOF {
						t.Errorf("ReadAt: %v", err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			// Open other files meanwhile: if f's fd were released early
			// and reused, the readers above would read these instead.
			for range 20 {
				g, err := d.Open("file")
				if err == nil {
					g.Close()
				}
			}
			f.Close()
		})
		wg.Wait()
	}
}

// TestFdLeaks runs every method, successful and refused, and checks that
// the process ends with the descriptors it started with.
func TestFdLeaks(t *testing.T) {
	warmUp(t)
	before := fdCount(t)
	func() {
		for _, r := range []rights.Pair{rights.Uniform(rights.All), rights.Uniform(rights.ReadOnly), {}} {
			for _, c := range dirCases {
				_, d := tree(t, r)
				c.run(d)
				d.Close()
			}
			for _, a := range writeAttempts {
				_, d := tree(t, r)
				a.run(d)
				d.Close()
			}
		}
		root := escapeTree(t)
		d, err := OpenDir(root, rights.Uniform(rights.All))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, p := range escapePaths {
			for _, m := range escapeMethods {
				m.run(d, resolvePath(p, root))
			}
		}
		for range 3 {
			if _, err := fstestWalk(d); err != nil {
				t.Fatal(err)
			}
		}
	}()
	if after := fdCount(t); after != before {
		t.Fatalf("descriptors: %d before, %d after\n%q", before, after, fdTargets())
	}
}

func fstestWalk(d *Dir) (int, error) {
	n := 0
	err := fs.WalkDir(d.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // escapes and the like: keep walking
		}
		n++
		if !e.IsDir() {
			fs.ReadFile(d.FS(), p)
		}
		return nil
	})
	return n, err
}

// TestCloexec: no descriptor capfd opens survives an exec.
func TestCloexec(t *testing.T) {
	_, d := tree(t, rights.Uniform(rights.All))
	f, err := d.Open("file")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sub, err := d.OpenDir("sub", d.Rights())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	lim, err := f.Limit(rights.Read)
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	re, err := f.Reopen(os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	for _, fd := range []uintptr{f.Fd(), lim.Fd(), re.Fd(), uintptr(sub.h), uintptr(d.h)} {
		flags, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d: F_GETFD = %#x, %v; want FD_CLOEXEC", fd, flags, err)
		}
	}
}

// execChildEnv names, in TestExec's child, the program to exec through a
// Dir and the rights the Dir grants it: "dir:name:rights".
const execChildEnv = "CAPFD_EXEC_CHILD"

// execLine is what the exec'd echo(1) prints.
const execLine = "exec-through-capfd"

// TestExec runs File.Exec in a child process (it replaces the process).
// With the exec right echo(1) replaces the test binary, so its line is all
// the child prints; without it Exec refuses with ErrNotCapable, which the
// child's test checks before it passes.
func TestExec(t *testing.T) {
	if spec := os.Getenv(execChildEnv); spec != "" {
		execChild(t, spec)
		return
	}
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Skip("no echo(1) to exec")
	}
	child := func(r rights.Rights) childtest.Child {
		spec := filepath.Dir(echo) + ":" + filepath.Base(echo) + ":" + r.String()
		return childtest.Child{Test: "TestExec", Env: []string{execChildEnv + "=" + spec}}
	}
	if out, code := child(rights.Lookup | rights.Exec).Output(t); code != 0 || strings.TrimSpace(out) != execLine {
		t.Errorf("exec with the exec right: exit %d, output %q; want echo's %q", code, out, execLine)
	}
	child(rights.Lookup).Pass(t)
}

// execChild opens the program spec names through a Dir and execs it: it
// returns only if Exec refused for want of the exec right, as it must
// when the rights lack it.
func execChild(t *testing.T, spec string) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) != 3 {
		t.Fatalf("%s=%q: want dir:name:rights", execChildEnv, spec)
	}
	dir, name, r := parts[0], parts[1], rights.MustParse(parts[2])
	d := openTestDir(t, dir, rights.Pair{Base: rights.Lookup, Inherit: r})
	f, err := d.OpenFile(name, unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Exec([]string{name, execLine}, os.Environ())
	if r.Has(rights.Exec) || !errors.Is(err, ErrNotCapable) {
		t.Fatalf("Exec with %s returned %v; want it to run %s, or ErrNotCapable without the exec right", r, err, name)
	}
}
