package vfsops

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// BuildView makes the calling process's filesystem the view of `capfd
// run`'s kernel mode: a read-only tmpfs root on which only the granted
// paths exist, each bind-mounted from the host at its own path, with the
// directories above them (the skeleton), a procfs of the process's PID
// namespace, and /dev's descriptor links. A name outside the grants then
// does not exist for the kernel, so a lookup the kernel resolves reaches
// a granted object or nothing, and what the program may do with the
// object is Landlock's decision (broker/notify/launch: kernel mode).
//
// The caller must be alone in a new mount namespace and a new PID
// namespace (the procfs shows that namespace's processes), hold
// CAP_SYS_ADMIN there, and not yet run anything it does not trust: the
// view is built from the host's names as they are now.
//
// Each step and why:
//
//  1. Mount propagation from the host is made one-way (MS_SLAVE), so
//     nothing done here reaches the host and host unmounts still reach us.
//  2. A tmpfs is mounted on a scratch directory and made the root with
//     pivot_root (on an initial ramfs, with a move and chroot:
//     enterScratchRoot); the host's root stays reachable at hostDir until
//     step 6.
//     Every later host path is read beneath hostDir.
//  3. Each grant (outer ones first) is placed at its own path: the
//     directories above it are created in the tmpfs (their metadata is
//     copied in step 7), a symlink on the way is copied as a symlink and
//     its target placed in turn (/lib -> usr/lib on merged-/usr hosts), so
//     every name resolves in the view as on the host; the granted object
//     itself is bind-mounted (recursively: its submounts come along).
//     Nothing is ever created beneath a bind mount: those are host
//     directories.
//  4. /proc is a new procfs of the PID namespace (nosuid, nodev, noexec),
//     so it shows the program's own processes only, and of its other
//     entries only those in procGlobals: every other one is covered by an
//     empty read-only file or directory (procMask).
//  5. /dev gets stdin, stdout, stderr and fd, links into /proc/self/fd as
//     on the host, where no grant provides them.
//  6. The host's root is detached (MNT_DETACH) and its directory removed:
//     from here on, no name leads outside the view.
//  7. The skeleton's directories take their host counterparts' mode,
//     owner and times (best effort: in a user namespace the owner may
//     not be mappable), deepest first so that creating an entry does
//     not change a parent's times again; then the root tmpfs is remounted
//     read-only.
//  8. The working directory is the host's, placed like a skeleton
//     directory if no grant holds it.
//
// links are names that must resolve in the view as on the host when what
// they lead to is granted, though their own directories are not: the
// program's ELF interpreter (/lib64/ld-linux-x86-64.so.2, a symlink into
// /usr/lib), which the kernel opens on exec. Each is placed, symlinks and
// directories along it, only when its target lies in a grant.
func BuildView(grants, links []string, cwd string) error {
	b := &viewBuilder{}
	if err := b.build(grants, links, cwd); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	return nil
}

// hostDir is where the host's root stays during the build (step 2).
const hostDir = "/.capfd-host"

// scratchDirs are tried in order for the tmpfs that becomes the root: any
// existing directory will do, since the mount is private to the namespace
// and pivot_root detaches it from there.
var scratchDirs = []string{"/tmp", "/run", "/dev/shm", "/mnt", "/"}

type viewBuilder struct {
	bound    []string        // view paths that are bind mounts
	skeleton map[string]bool // view directories that take their host counterparts' metadata
	depth    int
}

func (b *viewBuilder) build(grants, links []string, cwd string) error {
	b.skeleton = map[string]bool{"/": true}
	// 1.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / a slave mount: %w", err)
	}
	// 2.
	if err := enterScratchRoot(); err != nil {
		return err
	}
	// 3.
	sorted := slices.Clone(grants)
	slices.SortStableFunc(sorted, func(a, b string) int { return len(a) - len(b) })
	for _, g := range sorted {
		if path.Clean(g) == hostDir || strings.HasPrefix(path.Clean(g), hostDir+"/") {
			return fmt.Errorf("grant %s: the name is the view's own", g)
		}
		if err := b.place(path.Clean(g), true); err != nil {
			return fmt.Errorf("grant %s: %w", g, err)
		}
	}
	for _, l := range links {
		if real, err := resolveHost(path.Clean(l)); err == nil && b.beneathBound(real) {
			if err := b.place(path.Clean(l), false); err != nil {
				return fmt.Errorf("%s: %w", l, err)
			}
		}
	}
	// 4.
	if err := b.proc(); err != nil {
		return err
	}
	// 5.
	if err := b.devLinks(); err != nil {
		return err
	}
	// 8, before the host's root goes: the placing reads it.
	cwd = path.Clean(cwd)
	if !path.IsAbs(cwd) {
		cwd = "/"
	}
	if err := b.place(cwd, false); err != nil {
		cwd = "/" // the host's is gone or unreadable: as if removed
	}
	// 7, the metadata is read now and set after the host is gone.
	type meta struct {
		view string
		st   unix.Stat_t
	}
	var metas []meta
	for view := range b.skeleton {
		var st unix.Stat_t
		if err := unix.Lstat(hostDir+view, &st); err == nil {
			metas = append(metas, meta{view, st})
		}
	}
	// 6.
	if err := unix.Unmount(hostDir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := unix.Rmdir(hostDir); err != nil {
		return fmt.Errorf("rmdir %s: %w", hostDir, err)
	}
	// 7.
	slices.SortFunc(metas, func(a, b meta) int { return strings.Count(b.view, "/") - strings.Count(a.view, "/") })
	for _, m := range metas {
		_ = unix.Chmod(m.view, m.st.Mode&0o7777)
		_ = unix.Lchown(m.view, int(m.st.Uid), int(m.st.Gid))
		_ = unix.Chmod(m.view, m.st.Mode&0o7777) // chown clears set-id bits
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, m.view, []unix.Timespec{m.st.Atim, m.st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount the view's root read-only: %w", err)
	}
	// 8.
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir %s: %w", cwd, err)
	}
	return nil
}

// enterScratchRoot makes a fresh tmpfs the root, with the host's root at
// hostDir (step 2). pivot_root cannot move the initial ramfs (EINVAL: a
// guest booted from an initramfs runs on it); there, as switch_root does,
// the tmpfs is moved over / and entered with chroot, and the host's tree is
// a recursive clone (open_tree) taken before the tmpfs covered anything,
// attached at hostDir. The ramfs beneath stays, unreachable by any name.
func enterScratchRoot() error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV
	var scratch string
	for _, d := range scratchDirs {
		if err := unix.Mount("tmpfs", d, "tmpfs", flags, "mode=0755"); err == nil {
			scratch = d
			break
		}
	}
	if scratch == "" {
		return errors.New("no directory to mount the view's tmpfs on")
	}
	if err := unix.Chdir(scratch); err != nil {
		return fmt.Errorf("chdir %s: %w", scratch, err)
	}
	if err := unix.Mkdir("."+hostDir, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", hostDir, err)
	}
	err := unix.PivotRoot(".", "."+hostDir)
	switch {
	case err == nil:
		return unix.Chdir("/")
	case !errors.Is(err, unix.EINVAL):
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The initial ramfs: clone the host's tree from under the tmpfs.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := unix.Unmount(scratch, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", scratch, err)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree /: %w", err)
	}
	defer unix.Close(tree)
	if err := unix.Mount("tmpfs", scratch, "tmpfs", flags, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", scratch, err)
	}
	if err := unix.Mkdir(scratch+hostDir, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", hostDir, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, scratch+hostDir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach the host's tree: %w", err)
	}
	if err := unix.Chdir(scratch); err != nil {
		return fmt.Errorf("chdir %s: %w", scratch, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the tmpfs over /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// maxViewLinks bounds the symlinks followed while placing one grant, as
// the kernel's 40.
const maxViewLinks = 40

// place makes the host path p exist in the view: every directory above it
// as a skeleton directory, symlinks as symlinks, and p itself bind-mounted
// (bind) or, for the working directory, as a skeleton directory too.
func (b *viewBuilder) place(p string, bind bool) error {
	b.depth = 0
	return b.placeFrom(p, bind)
}

func (b *viewBuilder) placeFrom(p string, bind bool) error {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		last := i == len(parts)-1
		if b.beneathBound(next) {
			return nil // a host directory: the rest is there already
		}
		var st unix.Stat_t
		if err := unix.Lstat(hostDir+next, &st); err != nil {
			return fmt.Errorf("%s: %w", next, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if b.depth++; b.depth > maxViewLinks {
				return fmt.Errorf("%s: %w", p, unix.ELOOP)
			}
			target, err := readlinkHost(hostDir + next)
			if err != nil {
				return fmt.Errorf("%s: %w", next, err)
			}
			if err := unix.Symlink(target, next); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("symlink %s: %w", next, err)
			}
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			return b.placeFrom(path.Join(append([]string{target}, parts[i+1:]...)...), bind)
		case unix.S_IFDIR:
			if last && bind {
				return b.bind(next, true)
			}
			if err := b.dir(next); err != nil {
				return err
			}
		default:
			if !last {
				return fmt.Errorf("%s: %w", next, unix.ENOTDIR)
			}
			if !bind {
				return fmt.Errorf("%s: %w", next, unix.ENOTDIR)
			}
			return b.bind(next, false)
		}
		cur = next
	}
	return nil
}

// resolveHost resolves every symlink of the host path p (absolute,
// clean), as the kernel would, reading beneath hostDir.
func resolveHost(p string) (string, error) {
	links := 0
	cur := "/"
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		next := path.Join(cur, part)
		var st unix.Stat_t
		if err := unix.Lstat(hostDir+next, &st); err != nil {
			return "", err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			cur = next
			continue
		}
		if links++; links > maxViewLinks {
			return "", unix.ELOOP
		}
		target, err := readlinkHost(hostDir + next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// dir makes the skeleton directory p (its parent exists in the view).
func (b *viewBuilder) dir(p string) error {
	if err := unix.Mkdir(p, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	b.skeleton[p] = true
	return nil
}

// bind mounts the host's p at p in the view.
func (b *viewBuilder) bind(p string, isDir bool) error {
	if isDir {
		if err := unix.Mkdir(p, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
	} else {
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		unix.Close(fd)
	}
	if err := unix.Mount(hostDir+p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", p, err)
	}
	delete(b.skeleton, p)
	b.bound = append(b.bound, p)
	return nil
}

// beneathBound reports whether p is a bind mount or lies beneath one.
func (b *viewBuilder) beneathBound(p string) bool {
	for _, m := range b.bound {
		if p == m || m == "/" || strings.HasPrefix(p, m+"/") {
			return true
		}
	}
	return false
}

// devLinks gives /dev the descriptor links the host's has.
func (b *viewBuilder) devLinks() error {
	if b.beneathBound("/dev") {
		return nil
	}
	if err := b.dir("/dev"); err != nil {
		return err
	}
	for name, target := range map[string]string{
		"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "fd": "/proc/self/fd",
	} {
		if b.beneathBound("/dev/" + name) {
			continue
		}
		if err := unix.Symlink(target, "/dev/"+name); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", name, err)
		}
	}
	return nil
}

// procGlobals are the entries of /proc, beside the process directories,
// self and thread-self, that the view keeps: the system-wide files a
// program may read (the brokered /proc view's globalFiles, in
// broker/notify), and the symlinks into self. A directory is kept with
// only the listed entries; the rest of it is masked as well.
var procGlobals = map[string][]string{
	"cpuinfo": nil, "meminfo": nil, "stat": nil, "loadavg": nil, "uptime": nil,
	"version": nil, "filesystems": nil, "mounts": nil,
	"sys": {"kernel/osrelease", "kernel/ostype", "kernel/pid_max", "vm/overcommit_memory", "fs/nr_open"},
}

// proc mounts the view's /proc (step 4).
func (b *viewBuilder) proc() error {
	if err := b.dir("/proc"); err != nil {
		return err
	}
	delete(b.skeleton, "/proc")
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("proc", "/proc", "proc", flags, ""); err != nil {
		return fmt.Errorf("mount procfs: %w", err)
	}
	names, err := dirNames("/proc")
	if err != nil {
		return err
	}
	return withEmpties(func(file, dir string) error { return procMaskAll(names, file, dir) })
}

// procMaskAll masks the entries names of /proc that the view does not keep.
func procMaskAll(names []string, emptyFile, emptyDir string) error {
	for _, name := range names {
		keep, kept := procGlobals[name]
		switch {
		case name == "self" || name == "thread-self" || isPid(name):
		case kept && keep == nil:
		case kept:
			if err := procMaskBut("/proc/"+name, keep); err != nil {
				return err
			}
		default:
			if err := procMask("/proc/"+name, emptyFile, emptyDir); err != nil {
				return err
			}
		}
	}
	return nil
}

// procMaskBut masks the procfs directory dir but for the files keep
// (relative to it): each is cloned (open_tree) before a tmpfs covers dir,
// and attached onto an empty file there, so it is still the view's one
// procfs instance (what the BPF LSM's grant of /proc covers).
func procMaskBut(dir string, keep []string) error {
	trees := map[string]int{}
	defer func() {
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	for _, k := range keep {
		fd, err := unix.OpenTree(unix.AT_FDCWD, path.Join(dir, k), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			continue // not on this kernel
		}
		trees[k] = fd
	}
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, "mode=0755"); err != nil {
		return fmt.Errorf("mask %s: %w", dir, err)
	}
	for k, tree := range trees {
		p := path.Join(dir, k)
		if err := mkdirAll(path.Dir(p), dir); err != nil {
			return err
		}
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		unix.Close(fd)
		if err := unix.MoveMount(tree, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("attach %s: %w", p, err)
		}
	}
	return unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, "mode=0555")
}

// procMask covers the procfs entry p with the empty read-only file or
// directory (a bind mount each: cheaper than a tmpfs of its own). Symlinks
// (mounts, net) lead into self and stay.
func procMask(p, emptyFile, emptyDir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil // gone meanwhile
	}
	src := emptyFile
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return nil
	case unix.S_IFDIR:
		src = emptyDir
	}
	if err := unix.Mount(src, p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// withEmpties calls f with the paths of an empty file and an empty
// directory on a read-only tmpfs, which is detached when f returns: the
// bind mounts f made of them keep them.
func withEmpties(f func(file, dir string) error) error {
	const tmp = "/.capfd-empty"
	if err := unix.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", tmp, err)
	}
	defer unix.Rmdir(tmp)
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("tmpfs", tmp, "tmpfs", flags, "mode=0755"); err != nil {
		return fmt.Errorf("mount %s: %w", tmp, err)
	}
	defer unix.Unmount(tmp, unix.MNT_DETACH)
	fd, err := unix.Open(tmp+"/file", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return fmt.Errorf("create %s/file: %w", tmp, err)
	}
	unix.Close(fd)
	if err := unix.Mkdir(tmp+"/dir", 0o555); err != nil {
		return fmt.Errorf("mkdir %s/dir: %w", tmp, err)
	}
	if err := unix.Mount("", tmp, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, "mode=0755"); err != nil {
		return fmt.Errorf("remount %s: %w", tmp, err)
	}
	return f(tmp+"/file", tmp+"/dir")
}

func isPid(name string) bool {
	for _, c := range name {
		if c < '0' || c > '9' {
			return false
		}
	}
	return name != ""
}

// mkdirAll makes the directories of p beneath top, which exists.
func mkdirAll(p, top string) error {
	if p == top || len(p) <= len(top) {
		return nil
	}
	if err := mkdirAll(path.Dir(p), top); err != nil {
		return err
	}
	if err := unix.Mkdir(p, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	return nil
}

// dirNames lists the directory p.
func dirNames(p string) ([]string, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	entries, err := ReadDir(fd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return names, nil
}

func readlinkHost(p string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink(p, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// MountNamespace identifies the calling thread's mount namespace (the inode
// of /proc/thread-self/ns/mnt).
func MountNamespace() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/mnt", &st); err != nil {
		return 0, pathError("stat", "/proc/thread-self/ns/mnt", err)
	}
	return st.Ino, nil
}

// ReadableFile reports whether fd is open for reading on a regular file or
// a character device: an object on a filesystem, which a Landlock rule can
// name by the descriptor (kernel mode's rules for the inherited standard
// descriptors). Pipes, sockets and the like are not: Landlock does not
// restrict them.
func ReadableFile(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
		return false
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_ACCMODE != unix.O_WRONLY && fl&unix.O_PATH == 0
}

// IsDirFd reports whether fd is open on a directory.
func IsDirFd(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// TaskReadsFile reports whether descriptor fd of process pid is open for
// reading on a regular file or a character device, as ReadableFile does
// for one's own: by stat through the /proc link (never an open: the
// object may be a terminal or a FIFO) and the flags fdinfo shows.
func TaskReadsFile(pid, fd int) bool {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), &st); err != nil {
		return false
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
		return false
	}
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&unix.O_ACCMODE != unix.O_WRONLY && flags&unix.O_PATH == 0
		}
	}
	return false
}
