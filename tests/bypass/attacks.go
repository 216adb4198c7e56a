package bypass

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/capfd/capfd/vfsops"
	"golang.org/x/sys/unix"
)

// Catalogue returns every attack, in the order the suite runs them.
func Catalogue() []Attack {
	return []Attack{
		{Name: "proc-fd-reopen-rdwr", Doc: "re-open an O_RDONLY fd as O_RDWR through /proc/self/fd/N and write",
			Run: func(e *Env) error { return overwriteVia(e, procFd(e.ROFd), unix.O_RDWR) }},
		{Name: "proc-fd-reopen-opath-write", Doc: "re-open an O_PATH fd for writing through /proc/self/fd/N",
			Run: func(e *Env) error { return overwriteVia(e, procFd(e.ROPathFd), unix.O_WRONLY) }},
		{Name: "proc-fd-truncate", Doc: "truncate(\"/proc/self/fd/N\") of a read-only fd",
			Run: truncateViaProc},
		{Name: "bind-mount-open-tree", Doc: "clone the granted directory fd with open_tree(OPEN_TREE_CLONE) and move_mount it onto mnt/",
			Run: bindMountOpenTree},
		{Name: "bind-mount-proc-fd", Doc: "mount(\"/proc/self/fd/N\", mnt, MS_BIND) of the granted directory fd",
			Run: func(e *Env) error {
				if err := unix.Mount(procFd(e.GrantedFd), e.Mnt, "", unix.MS_BIND, ""); err != nil {
					return err
				}
				return sameInode(e.Mnt, e.Granted)
			}},
		{Name: "exec-without-right", Doc: "execve a file granted without exec",
			Run: func(e *Env) error { return runQuiet(exec.Command(e.Prog)) }},
		{Name: "execveat-empty-path", Doc: "execveat(fd, \"\", AT_EMPTY_PATH) of an O_PATH fd on a file granted without exec",
			Run: execveatEmptyPath},
		{Name: "exec-via-dynamic-loader", Doc: "run a file granted without exec through ld.so, which mmaps it PROT_EXEC",
			Run: execViaLoader},
		{Name: "proc-self-exe-write", Doc: "CVE-2019-5736: keep an O_PATH fd on /proc/self/exe across exec, then re-open it for writing",
			Run: procSelfExeWrite, victim: true},
		{Name: "chmod-readonly", Doc: "chmod a read-only file",
			Run: func(e *Env) error {
				if err := unix.Fchmodat(unix.AT_FDCWD, e.RO, 0o666, 0); err != nil {
					return err
				}
				var st unix.Stat_t
				if err := unix.Stat(e.RO, &st); err != nil || st.Mode&0o777 != 0o666 {
					return fmt.Errorf("%w: mode %o (%v)", errNoEffect, st.Mode&0o777, err)
				}
				return nil
			}},
		{Name: "utimes-readonly", Doc: "set the times of a read-only file",
			Run: func(e *Env) error {
				ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
				if err := unix.UtimesNanoAt(unix.AT_FDCWD, e.RO, ts, 0); err != nil {
					return err
				}
				var st unix.Stat_t
				if err := unix.Stat(e.RO, &st); err != nil || st.Mtim.Sec != 1 {
					return fmt.Errorf("%w: mtime %d (%v)", errNoEffect, st.Mtim.Sec, err)
				}
				return nil
			}},
		{Name: "setxattr-readonly", Doc: "set a user xattr on a read-only file",
			needs: userXattrs,
			Run: func(e *Env) error {
				if err := unix.Setxattr(e.RO, "user.capfd", []byte("pwned"), 0); err != nil {
					return err
				}
				buf := make([]byte, 16)
				n, err := unix.Getxattr(e.RO, "user.capfd", buf)
				if err != nil || string(buf[:n]) != "pwned" {
					return fmt.Errorf("%w: xattr %q (%v)", errNoEffect, buf[:n], err)
				}
				return nil
			}},
		{Name: "append-only-overwrite", Doc: "open an append-only file without O_APPEND and overwrite its start",
			Run: func(e *Env) error {
				fd, err := unix.Open(e.AppendOnly, unix.O_WRONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				if _, err := unix.Pwrite(fd, []byte("pwned"), 0); err != nil {
					return err
				}
				return contentStartsWith(e.AppendOnly, "pwned")
			}},
		{Name: "unlink-without-right", Doc: "unlink a file in a directory without the unlink right",
			Run: func(e *Env) error {
				if err := unix.Unlink(e.RO); err != nil {
					return err
				}
				return gone(e.RO)
			}},
		{Name: "rename-without-right", Doc: "rename a file in a directory without the rename rights",
			Run: func(e *Env) error {
				dst := filepath.Join(e.Granted, "renamed")
				if err := unix.Rename(e.RO, dst); err != nil {
					return err
				}
				return exists(dst)
			}},
		{Name: "rename-over-without-unlink", Doc: "rename onto an existing file in a directory with the rename rights but not unlink: replacing destroys the old file",
			Run: func(e *Env) error {
				keep := filepath.Join(e.Renamable, "keep.txt")
				if err := unix.Rename(filepath.Join(e.Renamable, "new.txt"), keep); err != nil {
					return err
				}
				return contentStartsWith(keep, "new")
			}},
		{Name: "nested-grant-via-symlink", Doc: "write a file of a nested read-only grant through a symlink in the read-write grant around it (outer/l -> inner)",
			Run: writeNestedViaSymlink},
		{Name: "nested-grant-after-rename", Doc: "rename the nested read-only grant (outer/inner -> outer/moved), then write its file under the new name",
			Run: writeNestedAfterRename},
		{Name: "base-below-inherit-via-dotdot", Doc: "create an entry of outer/ itself, whose base rights lack create, through outer/sub/up -> .. (below it, create is inherited)",
			Run: createViaDotdot},
		{Name: "append-only-fcntl-clear", Doc: "open an append-only file with O_APPEND, clear it with fcntl(F_SETFL) and overwrite its start",
			Run: appendFcntlClear},
		{Name: "chattr-readonly", Doc: "set an inode flag (chattr +d, FS_IOC_SETFLAGS; +a and +i take the same path) through an O_RDONLY fd of a read-only file",
			needs: inodeFlags, Run: chattrReadonly},
		{Name: "file-setattr-sibling", Doc: "set an inode flag of a file that was never granted with file_setattr(2) (Linux 6.17)",
			needs: fileSetattr, Run: fileSetattrSibling},
		{Name: "fchmod-readonly-fd", Doc: "fchmod the O_RDONLY fd of a read-only file (the descriptor form of chmod)",
			Run: fchmodReadonlyFd},
		{Name: "memfd-exec-readonly", Doc: "copy a file granted without exec into a memfd and execute the copy",
			Run: memfdExecReadonly},
		{Name: "link-without-right", Doc: "hard-link a file in a directory without the link rights",
			Run: func(e *Env) error {
				dst := filepath.Join(e.Granted, "linked")
				if err := unix.Link(e.RO, dst); err != nil {
					return err
				}
				return exists(dst)
			}},
		{Name: "symlink-without-right", Doc: "create a symlink (to the ungranted sibling) in a directory without the symlink right",
			Run: func(e *Env) error {
				dst := filepath.Join(e.Granted, "sym")
				if err := unix.Symlink("../sibling/secret.txt", dst); err != nil {
					return err
				}
				return exists(dst)
			}},
		{Name: "open-ungranted-sibling", Doc: "read a file in a directory that was never granted",
			Run: readSecret},
		{Name: "stat-ungranted-sibling", Doc: "stat a file in a directory that was never granted (learns its size)",
			Run: func(e *Env) error {
				var st unix.Stat_t
				if err := unix.Stat(e.Secret, &st); err != nil {
					return err
				}
				if st.Size != int64(len(secretContent)) {
					return fmt.Errorf("%w: size %d", errNoEffect, st.Size)
				}
				return nil
			}},
		{Name: "grandchild-inherits", Doc: "a process forked after confinement re-opens its read-only fd for writing",
			Run: func(e *Env) error { return runInGrandchild(e, "proc-fd-reopen-rdwr") }},
	}
}

// attackByName finds an attack or a use (the child runs both).
func attackByName(name string) (Attack, bool) {
	for _, a := range append(Catalogue(), Uses()...) {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

func truncateViaProc(e *Env) error {
	if err := unix.Truncate(procFd(e.ROFd), 0); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(e.ROFd, &st); err != nil || st.Size != 0 {
		return fmt.Errorf("%w: size %d (%v)", errNoEffect, st.Size, err)
	}
	return nil
}

func bindMountOpenTree(e *Env) error {
	tree, err := unix.OpenTree(e.GrantedFd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, e.Mnt, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return sameInode(e.Mnt, e.Granted)
}

func readSecret(e *Env) error {
	b, err := os.ReadFile(e.Secret)
	if err != nil {
		return err
	}
	if string(b) != secretContent {
		return fmt.Errorf("%w: read %q", errNoEffect, b)
	}
	return nil
}

// runQuiet runs cmd with the child's own stdin and stderr: os/exec would
// otherwise open /dev/null, which a confined process may not, and the
// attack would fail for the wrong reason.
func runQuiet(cmd *exec.Cmd) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	return cmd.Run()
}

// execveatEmptyPath runs in a grandchild, because a successful execveat
// replaces the caller: the grandchild (role execveat) opens granted/prog
// O_PATH and execveat()s it; its exit status tells what happened.
func execveatEmptyPath(e *Env) error {
	cmd := helperCommand(e, e.Helper, roleExecveat, nil)
	err := runQuiet(cmd)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() >= errnoExitBase {
		return syscall.Errno(exitErr.ExitCode() - errnoExitBase)
	}
	return err
}

// errnoExitBase: a grandchild whose exec failed exits with base+errno.
const errnoExitBase = 100

// doExecveat is the grandchild side: it only returns on failure.
func doExecveat(e *Env) int {
	fd, err := unix.Open(e.Prog, unix.O_PATH, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "open %s O_PATH: %v\n", e.Prog, err)
		return 2
	}
	err = vfsops.Exec(fd, []string{e.Prog}, os.Environ()) // execveat(fd, "", AT_EMPTY_PATH)
	var errno syscall.Errno
	if errors.As(err, &errno) && int(errno) < 256-errnoExitBase {
		return errnoExitBase + int(errno)
	}
	fmt.Fprintf(os.Stderr, "execveat: %v\n", err)
	return 2
}

func execViaLoader(e *Env) error {
	f, err := elf.Open(e.Prog)
	if err != nil {
		return fmt.Errorf("read ELF of %s: %w", e.Prog, err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("read PT_INTERP: %w", err)
			}
			interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	if interp == "" {
		return fmt.Errorf("%s is static: no loader to run it through", e.Prog)
	}
	return runQuiet(exec.Command(interp, e.Prog))
}

// procSelfExeWrite is the runc escape, CVE-2019-5736: a process cannot
// write its running executable (ETXTBSY), so it keeps an O_PATH fd on
// /proc/self/exe, execs something else, and re-opens the fd for writing
// once the old binary is no longer running. The child runs as bin/victim;
// the exec'd stage (role exe-overwrite, bin/helper) does the write and
// prints the result itself.
func procSelfExeWrite(e *Env) error {
	fd, err := unix.Open("/proc/self/exe", unix.O_PATH, 0) // survives exec
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	cmd := helperCommand(e, e.Helper, roleExeOverwrite, []string{
		envFd + "=" + strconv.Itoa(fd),
		envSize + "=" + strconv.FormatInt(st.Size, 10),
	})
	return syscall.Exec(cmd.Path, cmd.Args, cmd.Env)
}

// overwriteExe is the second stage: it appends to the victim binary (never
// the real test binary) and checks the victim grew.
func overwriteExe(e *Env) error {
	fd, err := strconv.Atoi(os.Getenv(envFd))
	if err != nil {
		return fmt.Errorf("bad %s: %w", envFd, err)
	}
	size, err := strconv.ParseInt(os.Getenv(envSize), 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s: %w", envSize, err)
	}
	w, err := unix.Open(procFd(fd), unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(w)
	if _, err := unix.Write(w, []byte("pwned")); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(e.Victim, &st); err != nil || st.Size != size+5 {
		return fmt.Errorf("%w: victim size %d, was %d (%v)", errNoEffect, st.Size, size, err)
	}
	return nil
}

// runInGrandchild forks and execs bin/helper to run attack without any
// confinement step of its own: whatever stops it was inherited.
func runInGrandchild(e *Env, attack string) error {
	cmd := helperCommand(e, e.Helper, roleAttack, []string{envAttack + "=" + attack})
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("grandchild: %w", err)
	}
	var r Result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return fmt.Errorf("grandchild report %q: %w", out.Bytes(), err)
	}
	if r.Stage != stageAttack {
		return fmt.Errorf("grandchild failed at %s: %s", r.Stage, r.Error)
	}
	return r.err()
}

// userXattrs checks the fixture's filesystem takes user xattrs: tmpfs only
// does from Linux 6.6, and the BPF guests' /tmp is tmpfs.
func userXattrs(e *Env) error {
	probe := filepath.Join(e.Root, "xattr-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return err
	}
	defer os.Remove(probe)
	err := unix.Setxattr(probe, "user.capfd-probe", []byte("x"), 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		var fs unix.Statfs_t
		unix.Statfs(e.Root, &fs)
		return &MissingFeatureError{Feature: fmt.Sprintf("user xattrs on the fixture's filesystem (magic %#x)", fs.Type), Err: err}
	}
	return err
}
