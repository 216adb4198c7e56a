// Package treestate describes a directory tree as text, so that tests can
// show that an operation changed exactly what it should: equal texts mean
// nothing observable changed.
package treestate

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Names lists every name under root with its type, a symlink's target and
// a file's contents, one per line, sorted: what an entry operation can
// change (create, remove, rename, link).
func Names(root string) (string, error) {
	var lines []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := rel + " " + e.Type().String()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case e.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(data)
		}
		lines = append(lines, line)
		return nil
	})
	slices.Sort(lines)
	return strings.Join(lines, "\n"), err
}

// Full describes everything a grant protects under root: names, types,
// modes, owners, sizes, link counts, mtimes, contents (by hash), link
// targets and extended attribute names. Access and change times are left
// out: taking the description reads every file (relatime), and a chown to
// oneself moves ctime without changing anything.
func Full(root string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s mode=%o uid=%d gid=%d size=%d nlink=%d mtime=%d.%d",
			rel, st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " sha=%x", sha256.Sum256(data))
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " -> %s", target)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			fmt.Fprintf(&b, " xattrs=%q", xattrNames(p))
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String(), err
}

// xattrNames lists p's extended attribute names, sorted, or says why not.
func xattrNames(p string) []string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var names []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
