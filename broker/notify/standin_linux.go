package notify

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/vfsops"
)

// Stand-ins for O_PATH descriptors.
//
// The kernel cannot install an O_PATH file in another process: ADDFD takes
// the file with fget(), which refuses FMODE_PATH files. substitutePath
// gives the program the object itself, opened O_RDONLY, where its rights
// allow reading it (a directory it may list, a file it may read). For
// every other object an O_PATH open may reach (a directory of the
// skeleton, a directory it may look up in but not list, a file it may not
// read, a symlink under O_NOFOLLOW, a device, FIFO or socket), handing
// over the object would give more than O_PATH does, and refusing breaks
// programs that walk down from "/" with O_PATH (rsync) or look at a
// symlink through one (gnulib's lchmod in tar). So the program gets a
// stand-in: an empty object of the supervisor's own, which holds nothing
// of the object it stands for and is bound to it only by its name.
//
// Each stand-in is made in the store, a private directory (0700, the
// supervisor's, outside every grant): a fresh numbered directory, beneath
// it the object's real path as directories, and at its end an empty
// directory (for a directory) or an empty regular file (for anything
// else). The leaf is opened O_RDONLY and then everything is removed
// again, so the store stays empty and the descriptor's name, as
// /proc/PID/fd/N shows it, is "<store>/<n><abs> (deleted)". realName reads
// abs back from it, and that is all the stand-in means:
//
//   - As a dirfd, or as the cwd after fchdir, it is read as a name
//     (dirPath), exactly as the supervisor reads every dirfd: lookups
//     relative to it are lookups of abs/..., decided by the grants.
//   - In the descriptor forms that name the object itself (fstatat and
//     statx with AT_EMPTY_PATH, fchownat and utimensat with AT_EMPTY_PATH,
//     readlinkat(fd, ""), an open or stat of /proc/self/fd/N), the
//     supervisor acts on abs by name, not following a final symlink
//     (the O_PATH descriptor was of that object, not of what it points
//     to): checked like any path, with the rights of where abs lies.
//   - The calls O_PATH descriptors refuse (fchmod, fchown, ftruncate,
//     fsetxattr, fremovexattr, ioctl, fallocate) answer EBADF, as they do
//     for an O_PATH descriptor.
//
// Natively, the program can do with a stand-in what it can with an
// O_PATH descriptor (close, dup, fcntl, fchdir) and two things more that
// reveal nothing: read it (it is empty) and list it (no entries). What a
// stand-in cannot copy: fstat(2) itself (the raw syscall, which glibc
// does not use but Go does) describes the stand-in, not the object, and
// getcwd(2) after an fchdir into a directory stand-in fails with ENOENT,
// as it does in a removed directory. No name the program can make gives
// more: a forged name in the store's form names a path, and paths carry
// no authority here.
type standins struct {
	dir string // the store's absolute path
	fd  int    // O_PATH descriptor of the store
	dev uint64 // the store's filesystem, which every stand-in is on
	seq atomic.Uint64
}

// standinRoots are where the store may be made, in order: private
// runtime directories first, so that nothing is ever written to a disk.
func standinRoots() []string {
	return []string{os.Getenv("XDG_RUNTIME_DIR"), "/run", "/dev/shm", os.TempDir()}
}

// openStandins makes the store in the first root that is outside every
// grant and lets the supervisor make a directory. nil means no root
// would do: O_PATH opens then get only what substitutePath gives.
func openStandins(t *grantTable) *standins {
	for _, root := range standinRoots() {
		if root == "" || !path.IsAbs(root) {
			continue
		}
		if g, _ := t.match(path.Join(path.Clean(root), ".capfd-standins")); g != nil && !g.Learn {
			continue // not even made there: the program would see it come and go
		}
		dir, fd, dev, err := vfsops.MakePrivateDir(root, ".capfd-standins-")
		if err != nil {
			continue
		}
		return &standins{dir: dir, fd: fd, dev: dev}
	}
	return nil
}

func (s *standins) close() {
	if s != nil {
		vfsops.RemovePrivateDir(s.dir, s.fd)
	}
}

// make returns a stand-in for the object at the real path abs: an empty
// directory if isDir, else an empty regular file, opened O_RDONLY (and
// O_CLOEXEC: installFd decides the program's flag), with every name of it
// removed again: in the store, a fresh numbered directory, then abs's
// components.
func (s *standins) make(abs string, isDir bool) (int, error) {
	if s == nil {
		return -1, fmt.Errorf("no stand-in store: %w", unix.EOPNOTSUPP)
	}
	if !path.IsAbs(abs) || path.Clean(abs) != abs {
		return -1, fmt.Errorf("stand-in for %q: not a clean absolute path: %w", abs, unix.EINVAL)
	}
	names := []string{strconv.FormatUint(s.seq.Add(1), 10)}
	if abs != "/" {
		names = append(names, strings.Split(abs[1:], "/")...)
	}
	fd, err := vfsops.OpenEmptyAt(s.fd, names, isDir)
	if err != nil {
		return -1, fmt.Errorf("stand-in for %q: %w", abs, err)
	}
	return fd, nil
}

// realName returns the path a stand-in's name stands for: p is a
// descriptor's name as /proc shows it.
func (s *standins) realName(p string) (string, bool) {
	if s == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(p, s.dir+"/")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, " (deleted)")
	if !ok {
		return "", false
	}
	seq, abs, _ := strings.Cut(rest, "/")
	if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
		return "", false
	}
	return "/" + abs, true
}

// of returns the path the descriptor fd (the supervisor's duplicate of a
// task's) stands for, if it is a stand-in: it lies on the store's
// filesystem and its name says so. glibc's every fstat comes here
// (fstatat(fd, "", AT_EMPTY_PATH)), so the fstat, which rules out almost
// every descriptor, comes before the readlink of its name.
func (s *standins) of(fd int) (string, bool) {
	if s == nil {
		return "", false
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil || st.Dev != s.dev {
		return "", false
	}
	p, err := vfsops.FdPath(fd)
	if err != nil {
		return "", false
	}
	return s.realName(p)
}
