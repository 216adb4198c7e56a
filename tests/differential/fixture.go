package differential

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/capfd/capfd/internal/treestate"

	"golang.org/x/sys/unix"
)

// The fixture every case starts from, fresh for each case:
//
//	f  g  e/  ls -> sub/f
//	sub/  f  g  e/  ls -> f
//	n/    f  g  e/  ls -> f     (the nested grant, for the nested shape)
//
// f holds fData and the xattr user.capfd, g holds gData.
const (
	fData        = "data\n"
	gData        = "other\n"
	fixtureXattr = "user.capfd"
	fixedTime    = 1000000000 // utimens and futimes set both times to this
)

// makeFixture builds the fixture under root; withXattrs false leaves out
// the xattr, on a filesystem without user xattrs (see userXattrs).
func makeFixture(root string, withXattrs bool) error {
	for _, dir := range []string{"", "sub/", "n/"} {
		if err := os.MkdirAll(filepath.Join(root, dir, "e"), 0o755); err != nil {
			return err
		}
		for name, data := range map[string]string{"f": fData, "g": gData} {
			p := filepath.Join(root, dir, name)
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				return err
			}
			if !withXattrs {
				continue
			}
			if err := unix.Setxattr(p, fixtureXattr, []byte("v"), 0); err != nil {
				return fmt.Errorf("setxattr %s: %w", p, err)
			}
		}
		target := "f"
		if dir == "" {
			target = "sub/f"
		}
		if err := os.Symlink(target, filepath.Join(root, dir, "ls")); err != nil {
			return err
		}
	}
	return nil
}

// userXattrs reports whether the filesystem of dir takes user xattrs:
// tmpfs only does from Linux 6.6, and the VM guests' /tmp is tmpfs (so
// bookworm-6.1 has none).
func userXattrs(dir string) error {
	probe := filepath.Join(dir, "xattr-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return err
	}
	defer os.Remove(probe)
	if err := unix.Setxattr(probe, "user.capfd-probe", []byte("x"), 0); err != nil {
		var fs unix.Statfs_t
		unix.Statfs(dir, &fs)
		return fmt.Errorf("no user xattrs on the fixtures' filesystem (magic %#x): %w", fs.Type, err)
	}
	return nil
}

// needsXattrs says whether c needs the fixture's xattr or user xattrs at
// all: the xattr cases.
func needsXattrs(c *Case) bool { return strings.HasPrefix(c.Op, "fd-xattr-") }

// snapshot is everything a case could change under root (treestate.Full).
func snapshot(root string) (string, error) { return treestate.Full(root) }

// effect checks that an allowed case did what it says, under the fixture
// root.
type effect func(root string) error

func all(effects ...effect) effect {
	return func(root string) error {
		for _, e := range effects {
			if err := e(root); err != nil {
				return err
			}
		}
		return nil
	}
}

func lstat(root, rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Lstat(filepath.Join(root, rel), &st)
	return st, err
}

func contentIs(rel, want string) effect {
	return func(root string) error {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		if string(got) != want {
			return fmt.Errorf("%s holds %q, want %q", rel, got, want)
		}
		return nil
	}
}

func sizeIs(rel string, want int64) effect {
	return func(root string) error {
		st, err := lstat(root, rel)
		if err != nil {
			return err
		}
		if st.Size != want {
			return fmt.Errorf("%s has size %d, want %d", rel, st.Size, want)
		}
		return nil
	}
}

func modeIs(rel string, want uint32) effect {
	return func(root string) error {
		st, err := lstat(root, rel)
		if err != nil {
			return err
		}
		if st.Mode&0o7777 != want {
			return fmt.Errorf("%s has mode %o, want %o", rel, st.Mode&0o7777, want)
		}
		return nil
	}
}

func ownerIs(rel string, uid, gid int) effect {
	return func(root string) error {
		st, err := lstat(root, rel)
		if err != nil {
			return err
		}
		if int(st.Uid) != uid || int(st.Gid) != gid {
			return fmt.Errorf("%s is owned by %d:%d, want %d:%d", rel, st.Uid, st.Gid, uid, gid)
		}
		return nil
	}
}

func mtimeIs(rel string, sec int64) effect {
	return func(root string) error {
		st, err := lstat(root, rel)
		if err != nil {
			return err
		}
		if st.Mtim.Sec != sec {
			return fmt.Errorf("%s has mtime %d, want %d", rel, st.Mtim.Sec, sec)
		}
		return nil
	}
}

func typeIs(rel string, want uint32, what string) effect {
	return func(root string) error {
		st, err := lstat(root, rel)
		if err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != want {
			return fmt.Errorf("%s is not a %s (mode %o)", rel, what, st.Mode)
		}
		return nil
	}
}

func isRegular(rel string) effect { return typeIs(rel, unix.S_IFREG, "regular file") }
func isDir(rel string) effect     { return typeIs(rel, unix.S_IFDIR, "directory") }

func isSymlink(rel, target string) effect {
	return func(root string) error {
		got, err := os.Readlink(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		if got != target {
			return fmt.Errorf("%s -> %s, want -> %s", rel, got, target)
		}
		return nil
	}
}

func gone(rel string) effect {
	return func(root string) error {
		if _, err := lstat(root, rel); err != unix.ENOENT {
			return fmt.Errorf("%s still exists (lstat: %v)", rel, err)
		}
		return nil
	}
}

func sameFile(a, b string) effect {
	return func(root string) error {
		sa, err := lstat(root, a)
		if err != nil {
			return err
		}
		sb, err := lstat(root, b)
		if err != nil {
			return err
		}
		if sa.Ino != sb.Ino || sa.Dev != sb.Dev {
			return fmt.Errorf("%s and %s are different files", a, b)
		}
		return nil
	}
}

func hasXattr(rel, name string) effect {
	return func(root string) error {
		if _, err := unix.Getxattr(filepath.Join(root, rel), name, nil); err != nil {
			return fmt.Errorf("%s: xattr %s: %w", rel, name, err)
		}
		return nil
	}
}

func noXattr(rel, name string) effect {
	return func(root string) error {
		if _, err := unix.Getxattr(filepath.Join(root, rel), name, nil); err != unix.ENODATA {
			return fmt.Errorf("%s: xattr %s still there (getxattr: %v)", rel, name, err)
		}
		return nil
	}
}
