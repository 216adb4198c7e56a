package vfsops

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fuzzFixture is a tree with symlinks of every shape (inward, outward,
// absolute, looping, dangling, chained), no procfs and no hard links to the
// outside, so that every file a resolution may reach is in insideIDs.
func fuzzFixture(t testing.TB) (root string, rootfd int, insideIDs map[devIno]string) {
	tmp := t.TempDir()
	root = filepath.Join(tmp, "root")
	mustWrite(t, filepath.Join(tmp, "outside", "secret"), "secret")
	for _, p := range []string{"a/b/c/f", "a/g", "file", "d/e/h"} {
		mustWrite(t, filepath.Join(root, p), p)
	}
	links := map[string]string{
		"in":        "a/b",
		"a/up":      "..",
		"a/upup":    "../..",
		"a/b/top":   "../../file",
		"out":       "../outside",
		"abs":       "/a/g",
		"absout":    filepath.Join(tmp, "outside"),
		"loop":      "loop",
		"dangling":  "nowhere/x",
		"chain1":    "chain2",
		"chain2":    "in/c",
		"dotlink":   ".",
		"slashlink": "a/",
		"d/e/back":  "../../a",
	}
	for name, target := range links {
		mustSymlink(t, target, filepath.Join(root, name))
	}
	insideIDs = map[devIno]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			var st unix.Stat_t
			if unix.Lstat(p, &st) == nil {
				insideIDs[devIno{st.Dev, st.Ino}] = p
			}
		}
		return nil
	})
	return root, openDir(t, root), insideIDs
}

var fuzzSeeds = []string{
	"a/b/c/f", "in/c/f", "a/up/file", "a/upup", "a/b/top", "out/secret", "abs", "absout/secret",
	"loop", "dangling", "chain1/f", "dotlink/dotlink/file", "slashlink/g", "d/e/back/g", "..",
	"a/../../outside/secret", "/a/g", "a//b/./c/../c/f", "a/b/", "file/", ".", "in/../g", "d/e/back/../file",
}

// FuzzOpenBeneath: for any path, with any options, (1) a successful
// resolution reaches a file inside the root, and (2) openat2 and the
// fallback walker agree: both fail or both reach the same file, and an
// escape is an escape for both.
func FuzzOpenBeneath(f *testing.F) {
	for _, s := range fuzzSeeds {
		for how := Resolve(0); how <= NoXDev|NoSymlinks|InRoot; how++ {
			f.Add(s, uint8(how), false)
			f.Add(s, uint8(how), true)
		}
	}
	_, rootfd, inside := fuzzFixture(f)
	f.Fuzz(func(t *testing.T, path string, howBits uint8, opath bool) {
		how := Resolve(howBits) & (NoXDev | NoSymlinks | InRoot)
		flags := unix.O_RDONLY
		if opath {
			flags = unix.O_PATH
		}
		type result struct {
			id  devIno
			err error
		}
		var results [2]result
		for i, res := range resolvers {
			fd, err := OpenBeneath(rootfd, path, flags, 0, how|res.how)
			if err != nil {
				results[i].err = err
				continue
			}
			var st unix.Stat_t
			unix.Fstat(fd, &st)
			unix.Close(fd)
			results[i].id = devIno{st.Dev, st.Ino}
			if _, ok := inside[results[i].id]; !ok {
				t.Fatalf("%s: OpenBeneath(%q, %v) reached a file outside the root", res.name, path, how)
			}
		}
		a, b := results[0], results[1]
		if (a.err == nil) != (b.err == nil) || a.id != b.id {
			t.Fatalf("OpenBeneath(%q, %v, O_PATH=%v): openat2 %v (%v), fallback %v (%v)", shorten(path), how, opath, a.id, errno(a.err), b.id, errno(b.err))
		}
		if a.err != nil && errors.Is(a.err, ErrEscape) != errors.Is(b.err, ErrEscape) {
			t.Fatalf("OpenBeneath(%q, %v): escape disagreement: openat2 %v, fallback %v", shorten(path), how, a.err, b.err)
		}
		if a.err != nil && errno(a.err) != errno(b.err) {
			t.Fatalf("OpenBeneath(%q, %v): openat2 %v, fallback %v", shorten(path), how, errno(a.err), errno(b.err))
		}
	})
}

func errno(err error) syscall.Errno {
	var e syscall.Errno
	errors.As(err, &e)
	return e
}

// The fuzz properties over the seeds and a deterministic spray of
// combinations, as a plain test so that `go test` always checks them.
func TestResolversAgree(t *testing.T) {
	_, rootfd, inside := fuzzFixture(t)
	var paths []string
	paths = append(paths, fuzzSeeds...)
	for _, a := range fuzzSeeds[:8] {
		for _, b := range fuzzSeeds[:8] {
			paths = append(paths, a+"/"+b, strings.TrimSuffix(a, "/")+"/../"+b)
		}
	}
	paths = append(paths, strings.Repeat("a/", 2100)) // longer than PATH_MAX
	for _, p := range paths {
		for how := Resolve(0); how <= NoXDev|NoSymlinks|InRoot; how++ {
			for _, flags := range []int{unix.O_RDONLY, unix.O_PATH, unix.O_PATH | unix.O_NOFOLLOW, unix.O_DIRECTORY} {
				var ids [2]devIno
				var errs [2]error
				for i, res := range resolvers {
					fd, err := OpenBeneath(rootfd, p, flags, 0, how|res.how)
					errs[i] = err
					if err == nil {
						ids[i] = fdID(t, fd)
						unix.Close(fd)
						if _, ok := inside[ids[i]]; !ok {
							t.Fatalf("%s: %q %v reached outside the root", res.name, p, how)
						}
					}
				}
				if ids[0] != ids[1] || errno(errs[0]) != errno(errs[1]) || errors.Is(errs[0], ErrEscape) != errors.Is(errs[1], ErrEscape) {
					t.Errorf("%q %v flags %#x: openat2 %v %v (escape %v), fallback %v %v (escape %v)", shorten(p), how, flags,
						ids[0], errno(errs[0]), errors.Is(errs[0], ErrEscape), ids[1], errno(errs[1]), errors.Is(errs[1], ErrEscape))
				}
			}
		}
	}
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
