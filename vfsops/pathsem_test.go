package vfsops

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/internal/semtest"

	"golang.org/x/sys/unix"
)

// The kernel's path semantics for entry operations (internal/semtest):
// every case runs the vfsops call on one scratch tree and the plain *at
// system call, relative to a plain directory fd, on an identical one; the
// errno and the tree afterwards must be the same.

// semCase is one call, made through vfsops (ours) and plainly (plain). A
// result other than the error (a link target, an inode) is returned as a
// string and must match too.
type semCase struct {
	name  string
	ours  func(fd int, how Resolve) (string, error)
	plain func(fd int) (string, error)
}

func noResult(err error) (string, error) { return "", err }

func statResult(st unix.Stat_t, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("ino=%d type=%o", st.Ino, st.Mode&unix.S_IFMT), nil
}

// semCases is the table. Every path stays inside the tree for the plain
// call too (the dots climb no higher than the tree's root), so the plain
// call is safe to make.
func semCases() []semCase {
	var cases []semCase
	add := func(c semCase) { cases = append(cases, c) }
	for _, p := range [][2]string{
		{"file", "target/"},      // ENOTDIR: a slash on either side needs a directory
		{"file", "new/"},         // ENOTDIR
		{"file/", "new"},         // ENOTDIR
		{"dir/", "newdir/"},      // works
		{"dir", "newdir/"},       // works
		{"dir/", "newdir"},       // works
		{"link/", "moved"},       // ENOTDIR: the symlink is not a directory
		{"link", "moved/"},       // ENOTDIR
		{"flink/", "moved"},      // ENOTDIR
		{"missing/", "moved"},    // ENOENT
		{"file", "target"},       // replaces
		{"file", "dir"},          // EISDIR
		{"dir", "file"},          // ENOTDIR
		{"dir", "full"},          // ENOTEMPTY
		{"dir", "full/"},         // ENOTEMPTY
		{".", "moved"},           // EBUSY
		{"..", "moved"},          // EBUSY (at the top, but only named)
		{"dir/..", "moved"},      // EBUSY
		{"file", "."},            // EBUSY
		{"file", "dir/.."},       // EBUSY
		{"a/../target", "moved"}, // moves b/target, not ./target
		{"file", "a/../moved"},   // lands in b
	} {
		old, new := p[0], p[1]
		add(semCase{
			name:  fmt.Sprintf("rename(%q,%q)", old, new),
			ours:  func(fd int, how Resolve) (string, error) { return noResult(Rename(fd, old, fd, new, how)) },
			plain: func(fd int) (string, error) { return noResult(unix.Renameat(fd, old, fd, new)) },
		})
	}
	for _, p := range [][2]string{
		{"file", "target"},  // EEXIST
		{"file", "."},       // EEXIST with NOREPLACE
		{"dir/", "target/"}, // EEXIST
		{"dir/", "new/"},    // works
	} {
		old, new := p[0], p[1]
		add(semCase{
			name: fmt.Sprintf("rename-noreplace(%q,%q)", old, new),
			ours: func(fd int, how Resolve) (string, error) {
				return noResult(RenameFlags(fd, old, fd, new, unix.RENAME_NOREPLACE, how))
			},
			plain: func(fd int) (string, error) {
				return noResult(unix.Renameat2(fd, old, fd, new, unix.RENAME_NOREPLACE))
			},
		})
	}
	for _, p := range [][2]string{
		{"file", "target/"},    // EEXIST
		{"file", "new/"},       // ENOENT
		{"file", "dir/"},       // EEXIST
		{"file/", "new"},       // ENOTDIR
		{"flink/", "new"},      // ENOTDIR (followed, a file)
		{"dangling/", "new"},   // ENOENT (followed)
		{"link/", "new"},       // EPERM (followed, a directory)
		{"link/", "target"},    // EEXIST before EPERM
		{"link/", "new/"},      // ENOENT before EPERM
		{"link", "new"},        // links the symlink itself
		{"dir", "new"},         // EPERM
		{".", "new"},           // EPERM
		{"dir/..", "new"},      // EPERM
		{"missing/", "new"},    // ENOENT
		{"file", "."},          // EEXIST
		{"file", "dir/.."},     // EEXIST
		{"a/../target", "new"}, // links b/target
		{"file", "a/../new"},   // lands in b
	} {
		old, new := p[0], p[1]
		add(semCase{
			name:  fmt.Sprintf("link(%q,%q)", old, new),
			ours:  func(fd int, how Resolve) (string, error) { return noResult(Link(fd, old, fd, new, how)) },
			plain: func(fd int) (string, error) { return noResult(unix.Linkat(fd, old, fd, new, 0)) },
		})
	}
	for _, p := range []string{
		"link/",     // EINVAL: followed, a directory
		"flink/",    // ENOTDIR
		"dangling/", // ENOENT
		"file/",     // ENOTDIR
		"dir/",      // EINVAL
		"link",      // the target
		"file",      // EINVAL
		".",         // EINVAL
		"dir/..",    // EINVAL
		"a/../c",    // EINVAL (b/c, a directory)
	} {
		add(semCase{
			name:  fmt.Sprintf("readlink(%q)", p),
			ours:  func(fd int, how Resolve) (string, error) { return Readlink(fd, p, how) },
			plain: func(fd int) (string, error) { return semtest.Readlinkat(fd, p) },
		})
	}
	for _, p := range []string{
		"file/",       // ENOTDIR
		"dir/",        // EISDIR
		"dir",         // EISDIR
		"missing/",    // ENOENT
		"link/",       // ENOTDIR: the link, not followed
		"flink/",      // ENOTDIR
		"dangling/",   // ENOTDIR
		".",           // EISDIR
		"..",          // EISDIR
		"dir/..",      // EISDIR
		"a/../target", // removes b/target
		"link",        // removes the link
	} {
		add(semCase{
			name:  fmt.Sprintf("unlink(%q)", p),
			ours:  func(fd int, how Resolve) (string, error) { return noResult(Unlink(fd, p, how)) },
			plain: func(fd int) (string, error) { return noResult(unix.Unlinkat(fd, p, 0)) },
		})
	}
	for _, p := range []string{
		"dir/",     // works
		"dir//",    // works
		"file/",    // ENOTDIR
		"file",     // ENOTDIR
		"link/",    // ENOTDIR: the link, not followed
		"link",     // ENOTDIR
		"full",     // ENOTEMPTY
		"full/",    // ENOTEMPTY
		".",        // EINVAL
		"..",       // ENOTEMPTY
		"dir/.",    // EINVAL
		"dir/..",   // ENOTEMPTY
		"a/../c",   // removes b/c
		"missing/", // ENOENT
	} {
		add(semCase{
			name:  fmt.Sprintf("rmdir(%q)", p),
			ours:  func(fd int, how Resolve) (string, error) { return noResult(Rmdir(fd, p, how)) },
			plain: func(fd int) (string, error) { return noResult(unix.Unlinkat(fd, p, unix.AT_REMOVEDIR)) },
		})
	}
	for _, p := range []string{
		"new/",        // works
		"new//",       // works
		"dir",         // EEXIST
		"dir/",        // EEXIST
		"file/",       // EEXIST
		"link/",       // EEXIST: the link, not followed
		"dangling/",   // EEXIST: its target is not created
		".",           // EEXIST
		"..",          // EEXIST
		"dir/..",      // EEXIST
		"a/../new",    // makes b/new
		"missing/new", // ENOENT
		"file/new",    // ENOTDIR
	} {
		add(semCase{
			name:  fmt.Sprintf("mkdir(%q)", p),
			ours:  func(fd int, how Resolve) (string, error) { return noResult(Mkdir(fd, p, 0o755, how)) },
			plain: func(fd int) (string, error) { return noResult(unix.Mkdirat(fd, p, 0o755)) },
		})
	}
	for _, p := range []string{
		"new/",     // ENOENT: a symlink is not a directory
		"file/",    // EEXIST
		"dir/",     // EEXIST
		"..",       // EEXIST
		"dir/..",   // EEXIST
		"a/../new", // makes b/new
	} {
		add(semCase{
			name:  fmt.Sprintf("symlink(%q)", p),
			ours:  func(fd int, how Resolve) (string, error) { return noResult(Symlink("t", fd, p, how)) },
			plain: func(fd int) (string, error) { return noResult(unix.Symlinkat("t", fd, p)) },
		})
	}
	for _, p := range []string{
		"link/",       // the directory: the slash follows
		"link",        // the link
		"flink/",      // ENOTDIR
		"dangling/",   // ENOENT
		"file/",       // ENOTDIR
		"dir/..",      // the root
		"a/../target", // b/target
	} {
		add(semCase{
			name: fmt.Sprintf("lstat(%q)", p),
			ours: func(fd int, how Resolve) (string, error) { return statResult(Stat(fd, p, how, false)) },
			plain: func(fd int) (string, error) {
				var st unix.Stat_t
				err := unix.Fstatat(fd, p, &st, unix.AT_SYMLINK_NOFOLLOW)
				return statResult(st, err)
			},
		})
		add(semCase{
			name: fmt.Sprintf("stat(%q)", p),
			ours: func(fd int, how Resolve) (string, error) { return statResult(Stat(fd, p, how, true)) },
			plain: func(fd int) (string, error) {
				var st unix.Stat_t
				err := unix.Fstatat(fd, p, &st, 0)
				return statResult(st, err)
			},
		})
	}
	return cases
}

func TestPathSemanticsMatchKernel(t *testing.T) {
	for _, res := range resolvers {
		for _, tc := range semCases() {
			t.Run(res.name+"/"+tc.name, func(t *testing.T) {
				refRoot, ourRoot := semtest.Roots(t)
				// The reference and ours get inodes of their own, so an
				// inode result is compared as the name it belongs to.
				wantOut, wantErr := tc.plain(openDir(t, refRoot))
				gotOut, gotErr := tc.ours(openDir(t, ourRoot), res.how)
				semtest.SameError(t, gotErr, wantErr)
				if nameOfResult(t, refRoot, wantOut) != nameOfResult(t, ourRoot, gotOut) {
					t.Fatalf("result %q, kernel's %q", gotOut, wantOut)
				}
				semtest.SameTree(t, ourRoot, refRoot)
			})
		}
	}
}

// nameOfResult turns a stat result's inode into the name it has under
// root; other results are returned as they are.
func nameOfResult(t testing.TB, root, out string) string {
	var ino uint64
	var typ uint32
	if _, err := fmt.Sscanf(out, "ino=%d type=%o", &ino, &typ); err != nil {
		return out
	}
	var found []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		var st unix.Stat_t
		if err == nil && unix.Lstat(p, &st) == nil && st.Ino == ino {
			rel, _ := filepath.Rel(root, p)
			found = append(found, rel)
		}
		return nil
	})
	return fmt.Sprintf("%v type=%o", found, typ)
}
