// Command pathsem makes entry system calls whose meaning depends on a
// trailing slash, each in a fresh
// scratch tree, and prints one line per call: its number, the call, and
// "ok" (with the result, for readlink and lstat) or the errno name. Run
// plainly and under `capfd run`, the two outputs must be the same.
//
// usage: pathsem ROOT
//
// Each call runs in ROOT/NN, made as:
//
//	file, target     regular files
//	dir/             empty directory
//	full/x           non-empty directory
//	link -> dir, flink -> file, dangling -> missing
//	a -> b/c, b/c/, b/target
//
// (".." after a symlink, "a/../target", is left out: the supervisor still
// cleans paths lexically before matching them against the grants.)
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/tests/internal/testprog"
)

type call struct {
	name string
	fn   func() (string, error)
}

func plain(err error) (string, error) { return "", err }

func calls() []call {
	var cs []call
	add := func(name string, fn func() (string, error)) { cs = append(cs, call{name, fn}) }
	// ".." is taken from where the kernel is, not lexically: a -> b/c, so
	// a/.. is b. A final "." or ".." stays the kernel's to refuse.
	for _, p := range []string{"a/../target", "a/..", "dir/..", "dir/."} {
		add("lstat "+p, func() (string, error) {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return "", err
			}
			return fmt.Sprintf("type=%o size=%d", st.Mode&unix.S_IFMT, st.Size), nil
		})
	}
	add("mkdir a/../newc", func() (string, error) { return plain(unix.Mkdir("a/../newc", 0o755)) })
	for _, p := range []string{"dir/..", "dir/.", "a/../newc"} {
		add("rmdir "+p, func() (string, error) { return plain(unix.Rmdir(p)) })
	}
	for _, p := range []string{"dir/..", "dir/."} {
		add("unlink "+p, func() (string, error) { return plain(unix.Unlink(p)) })
	}
	add("rename full/.. x", func() (string, error) { return plain(unix.Rename("full/..", "x")) })
	add("rename a/../target moved-target", func() (string, error) { return plain(unix.Rename("a/../target", "moved-target")) })
	for _, p := range [][2]string{
		{"file", "target/"}, {"file/", "new"}, {"dir/", "newdir/"}, {"link/", "moved"}, {"link", "moved/"},
		{"flink/", "moved"}, {"dir", "full/"},
	} {
		add(fmt.Sprintf("rename %s %s", p[0], p[1]), func() (string, error) { return plain(unix.Rename(p[0], p[1])) })
	}
	for _, p := range [][2]string{
		{"file", "target/"}, {"file", "new/"}, {"file/", "new"}, {"link/", "new"}, {"flink/", "new"}, {"link", "new"},
	} {
		add(fmt.Sprintf("link %s %s", p[0], p[1]), func() (string, error) { return plain(unix.Link(p[0], p[1])) })
	}
	for _, p := range []string{"link/", "flink/", "dangling/", "link"} {
		add("readlink "+p, func() (string, error) {
			buf := make([]byte, 256)
			n, err := unix.Readlink(p, buf)
			if err != nil {
				return "", err
			}
			return string(buf[:n]), nil
		})
	}
	for _, p := range []string{"file/", "dir/", "link/", "flink/", "missing/"} {
		add("unlink "+p, func() (string, error) { return plain(unix.Unlink(p)) })
	}
	for _, p := range []string{"dir/", "file/", "link/", "full/"} {
		add("rmdir "+p, func() (string, error) { return plain(unix.Rmdir(p)) })
	}
	for _, p := range []string{"new/", "dir/", "link/", "dangling/"} {
		add("mkdir "+p, func() (string, error) { return plain(unix.Mkdir(p, 0o755)) })
	}
	for _, p := range []string{"new/", "file/"} {
		add("symlink t "+p, func() (string, error) { return plain(unix.Symlink("t", p)) })
	}
	for _, p := range []string{"link/", "flink/", "dangling/"} {
		add("lstat "+p, func() (string, error) {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return "", err
			}
			return fmt.Sprintf("type=%o size=%d", st.Mode&unix.S_IFMT, st.Size), nil
		})
	}
	return cs
}

func build(dir string) error {
	for name, data := range map[string]string{"file": "file", "target": "target", "full/x": "x", "b/target": "b/target"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{"dir", "b/c"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for link, target := range map[string]string{"link": "dir", "flink": "file", "dangling": "missing", "a": "b/c"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	root := testprog.Args(1, "ROOT")[0]
	for i, c := range calls() {
		dir := filepath.Join(root, fmt.Sprintf("%02d", i))
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.Chdir(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out, err := c.fn()
		res := "ok"
		if err != nil {
			res = err.Error()
			if errno, ok := err.(unix.Errno); ok {
				res = unix.ErrnoName(errno)
			}
		}
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%02d %s: %s %s", i, c.name, res, out)))
	}
}
