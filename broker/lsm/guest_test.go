//go:build linux

package lsm

// Guest tests: they load the programs and need a kernel that runs BPF LSM,
// which in this project means a vmtest VM (see vm_test.go). On the
// development host they skip, naming Probe's reason.

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfd/capfd/internal/vmtest"
	"github.com/capfd/capfd/rights"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if op := os.Getenv(envOp); op != "" {
		os.Exit(helperMain(op))
	}
	code := m.Run()
	if err := closeShared(); err != nil {
		println("close shared enforcer:", err.Error())
		code = 1
	}
	os.Exit(code)
}

// closeShared unloads the enforcer the tests share, for benchmarks that
// need a kernel without capfd's programs.
func closeShared() error {
	if shared.enforcer == nil {
		return nil
	}
	err := shared.enforcer.Close()
	shared.enforcer = nil
	shared.once = sync.Once{}
	return err
}

// requireBPFLSM skips on a kernel without BPF LSM, and fails inside the VM,
// where it must work.
func requireBPFLSM(t testing.TB) {
	t.Helper()
	if err := Probe(); err != nil {
		if vmtest.InVM() {
			t.Fatalf("BPF LSM must work in the vmtest guest: %v", err)
		}
		t.Skipf("BPF LSM programs cannot load on this kernel: %v", err)
	}
}

var shared struct {
	once     sync.Once
	enforcer *Enforcer
	err      error
}

// loaded returns the enforcer the guest tests share: loading 25 programs
// under TCG takes a while, and sandboxes keep the tests apart.
func loaded(t testing.TB) *Enforcer {
	t.Helper()
	requireBPFLSM(t)
	shared.once.Do(func() { shared.enforcer, shared.err = Load(Options{}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.enforcer
}

var lastSandbox atomic.Uint32

func newSandbox() uint32 { return lastSandbox.Add(1) }

// grants maps fixture paths (relative to the fixture directory, or
// absolute) to rights.
type grants map[string]rights.Pair

func (g grants) apply(t *testing.T, e *Enforcer, sandbox uint32, dir string) {
	t.Helper()
	for p, r := range g {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := e.GrantPath(sandbox, p, r); err != nil {
			t.Fatal(err)
		}
	}
}

func file(r rights.Rights) rights.Pair            { return rights.Pair{Base: r} }
func dir(base, inherit rights.Rights) rights.Pair { return rights.Pair{Base: base, Inherit: inherit} }

// scenario is one operation and the grants under which a marked child must
// be refused (deny) or allowed (allow) to do it.
type scenario struct {
	op          string
	args        []string // relative paths are inside the fixture directory
	deny, allow grants
	hook        string // hook expected to refuse
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testProg is a copy of the test binary for the exec cases: exec'd with a
// helper environment it performs one operation and prints its result.
func testProg(t *testing.T) string {
	t.Helper()
	progOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			progErr = err
			return
		}
		dir, err := os.MkdirTemp("", "capfd-lsm-prog")
		if err != nil {
			progErr = err
			return
		}
		progPath = filepath.Join(dir, "prog")
		progErr = copyFile(exe, progPath, 0o755)
	})
	if progErr != nil {
		t.Fatal(progErr)
	}
	return progPath
}

var (
	progOnce sync.Once
	progPath string
	progErr  error
)

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func mustExecutable(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// hookCases is the table of the guest tests: one row per refused operation.
// setup builds the fixture in a fresh directory for each of the three runs
// (the operations change it).
func hookCases(t *testing.T, e *Enforcer) []struct {
	name  string
	setup func(t *testing.T, d string) scenario
} {
	ro, rw := rights.ReadOnly, rights.ReadWrite
	truncateHook := "path_truncate"
	if slices.Contains(e.Attached(), "file_truncate") {
		truncateHook = "file_truncate"
	}
	plainFile := func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "f"), "hello, capfd\n") }
	withXattr := func(t *testing.T, d string) {
		plainFile(t, d)
		err := unix.Setxattr(filepath.Join(d, "f"), testXattr, []byte("old"), 0)
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("%s: filesystem without trusted.* xattrs", d)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	twoDirs := func(t *testing.T, d string) {
		writeFile(t, filepath.Join(d, "a", "f"), "moving\n")
		if err := os.Mkdir(filepath.Join(d, "b"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mountDirs := func(t *testing.T, d string) {
		writeFile(t, filepath.Join(d, "src", "f"), "bind me\n")
		if err := os.Mkdir(filepath.Join(d, "mnt"), 0o755); err != nil {
			t.Fatal(err)
		}
		// Whatever got mounted, by whichever run, goes.
		t.Cleanup(func() { unix.Unmount(filepath.Join(d, "mnt"), unix.MNT_DETACH) })
	}
	type row = struct {
		name  string
		setup func(t *testing.T, d string) scenario
	}
	simple := func(op string, deny, allow rights.Rights, hook string) func(*testing.T, string) scenario {
		return func(t *testing.T, d string) scenario {
			plainFile(t, d)
			return scenario{op: op, args: []string{"f"}, deny: grants{"f": file(deny)}, allow: grants{"f": file(allow)}, hook: hook}
		}
	}
	inDir := func(op string, args []string, prepare func(*testing.T, string), need rights.Rights, hook string) func(*testing.T, string) scenario {
		return func(t *testing.T, d string) scenario {
			if prepare != nil {
				prepare(t, d)
			}
			return scenario{op: op, args: args,
				deny:  grants{".": dir(ro, rw)},
				allow: grants{".": dir(ro|need, rw)}, hook: hook}
		}
	}
	execCase := func(op string, deny rights.Rights, hook string) func(*testing.T, string) scenario {
		return func(t *testing.T, d string) scenario {
			prog := testProg(t)
			return scenario{op: op, args: []string{prog, "ok"},
				deny: grants{prog: file(deny)}, allow: grants{prog: file(rights.ReadExec)}, hook: hook}
		}
	}
	return []row{
		{"open ungranted file", func(t *testing.T, d string) scenario {
			plainFile(t, d)
			return scenario{op: "open-read", args: []string{"f"}, deny: grants{}, allow: grants{"f": file(ro)}, hook: "file_open"}
		}},
		{"open for write with read right", simple("open-write", rights.Read, rights.Write, "file_open")},
		{"open O_APPEND with read right", simple("open-append", rights.Read, rights.Append, "file_open")},
		{"open O_APPEND with write right only", simple("open-append", rights.Read|rights.Write, rights.Append, "file_open")},
		{"open access mode 3 without ioctl", simple("open-mode3", rights.Read|rights.Write, rights.Ioctl, "file_open")},
		{"open O_TRUNC without truncate", simple("open-trunc", rights.Read, rights.Read|rights.Truncate, "file_open")},
		{"reopen /proc/self/fd/N read-write", simple("reopen-rdwr", ro, rights.Read|rights.Write, "file_open")},
		{"clear O_APPEND with append right", simple("clear-append", rights.Append, rights.Write, "file_fcntl")},
		{"open /proc/self/exe", func(t *testing.T, d string) scenario {
			return scenario{op: "open-read", args: []string{"/proc/self/exe"},
				deny: grants{}, allow: grants{mustExecutable(t): file(ro)}, hook: "file_open"}
		}},
		{"open /proc/self/map_files entry", func(t *testing.T, d string) scenario {
			plainFile(t, d)
			return scenario{op: "open-mapfile", args: []string{"f"}, deny: grants{}, allow: grants{"f": file(ro)}, hook: "file_open"}
		}},
		{"directory grant covers subtree", func(t *testing.T, d string) scenario {
			writeFile(t, filepath.Join(d, "sub", "deeper", "x"), "deep\n")
			return scenario{op: "open-read", args: []string{"sub/deeper/x"},
				deny: grants{".": dir(ro, rights.Lookup)}, allow: grants{".": dir(ro, ro)}, hook: "file_open"}
		}},
		{"nearest granted directory wins", func(t *testing.T, d string) scenario {
			writeFile(t, filepath.Join(d, "sub", "x"), "near\n")
			return scenario{op: "open-read", args: []string{"sub/x"},
				deny:  grants{".": dir(ro, ro), "sub": dir(rights.Lookup, rights.Lookup)},
				allow: grants{".": dir(rights.Lookup, rights.Lookup), "sub": dir(ro, ro)}, hook: "file_open"}
		}},
		{"truncate", simple("truncate", rights.Read|rights.Write, rights.Truncate, "path_truncate")},
		{"truncate /proc/self/fd/N", simple("truncate-procfd", ro, rights.Read|rights.Truncate, "path_truncate")},
		{"ftruncate", simple("ftruncate", rights.Read|rights.Write, rights.Read|rights.Write|rights.Truncate, truncateHook)},
		{"stat", simple("stat", rights.Read, rights.Stat, "inode_getattr")},
		{"chmod", simple("chmod", ro, rights.Chmod, "inode_setattr")},
		{"chown", simple("chown", ro, rights.Chown, "inode_setattr")},
		// A chown that keeps the owner needs chown or chmod
		// (vfsops.Request.KeepsOwner); giving the file away needs chown.
		{"chown keeping the owner, with chmod", simple("chown", ro, rights.Chmod, "inode_setattr")},
		{"chown to another owner, with chmod", simple("chown-other", ro|rights.Chmod, rights.Chown, "inode_setattr")},
		{"utimes", simple("utimes", ro, rights.Chtimes, "inode_setattr")},
		{"setxattr", func(t *testing.T, d string) scenario {
			withXattr(t, d)
			return scenario{op: "setxattr", args: []string{"f"}, deny: grants{"f": file(ro)}, allow: grants{"f": file(rights.XattrSet)}, hook: "inode_setxattr"}
		}},
		{"removexattr", func(t *testing.T, d string) scenario {
			withXattr(t, d)
			return scenario{op: "removexattr", args: []string{"f"}, deny: grants{"f": file(ro)}, allow: grants{"f": file(rights.XattrSet)}, hook: "inode_removexattr"}
		}},
		{"getxattr", func(t *testing.T, d string) scenario {
			withXattr(t, d)
			return scenario{op: "getxattr", args: []string{"f"}, deny: grants{"f": file(rights.Read)}, allow: grants{"f": file(rights.XattrGet)}, hook: "inode_getxattr"}
		}},
		{"listxattr", func(t *testing.T, d string) scenario {
			withXattr(t, d)
			return scenario{op: "listxattr", args: []string{"f"}, deny: grants{"f": file(rights.Read)}, allow: grants{"f": file(rights.XattrGet)}, hook: "inode_listxattr"}
		}},
		{"create", inDir("create", []string{"new"}, nil, rights.Create, "inode_create")},
		{"mkfifo", inDir("mkfifo", []string{"fifo"}, nil, rights.Create, "inode_mknod")},
		{"mkdir", inDir("mkdir", []string{"sub"}, nil, rights.Mkdir, "inode_mkdir")},
		{"unlink", inDir("unlink", []string{"f"}, plainFile, rights.Unlink, "inode_unlink")},
		{"rmdir", inDir("rmdir", []string{"sub"}, func(t *testing.T, d string) {
			if err := os.Mkdir(filepath.Join(d, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, rights.Unlink, "inode_rmdir")},
		{"symlink", inDir("symlink", []string{"f", "ln"}, plainFile, rights.Symlink, "inode_symlink")},
		{"readlink", func(t *testing.T, d string) scenario {
			if err := os.Symlink("f", filepath.Join(d, "ln")); err != nil {
				t.Fatal(err)
			}
			return scenario{op: "readlink", args: []string{"ln"},
				deny: grants{".": dir(ro, rights.Read)}, allow: grants{".": dir(ro, rights.Readlink)}, hook: "inode_readlink"}
		}},
		{"rename into directory without rename-to", func(t *testing.T, d string) scenario {
			twoDirs(t, d)
			return scenario{op: "rename", args: []string{"a/f", "b/f"},
				deny:  grants{"a": dir(rights.RenameFrom, 0), "b": dir(ro, 0)},
				allow: grants{"a": dir(rights.RenameFrom, 0), "b": dir(rights.RenameTo, 0)}, hook: "path_rename"}
		}},
		{"rename out of directory without rename-from", func(t *testing.T, d string) scenario {
			twoDirs(t, d)
			return scenario{op: "rename", args: []string{"a/f", "b/f"},
				deny:  grants{"a": dir(ro, 0), "b": dir(rights.RenameTo, 0)},
				allow: grants{"a": dir(rights.RenameFrom, 0), "b": dir(rights.RenameTo, 0)}, hook: "path_rename"}
		}},
		{"rename over an existing file without unlink", func(t *testing.T, d string) scenario {
			twoDirs(t, d)
			if err := os.WriteFile(filepath.Join(d, "b", "f"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			return scenario{op: "rename", args: []string{"a/f", "b/f"},
				deny:  grants{"a": dir(rights.RenameFrom, 0), "b": dir(rights.RenameTo, 0)},
				allow: grants{"a": dir(rights.RenameFrom, 0), "b": dir(rights.RenameTo|rights.Unlink, 0)}, hook: "path_rename"}
		}},
		{"exchange without rename-to on the old directory", func(t *testing.T, d string) scenario {
			twoDirs(t, d)
			if err := os.WriteFile(filepath.Join(d, "b", "f"), []byte("other"), 0o644); err != nil {
				t.Fatal(err)
			}
			// An exchange destroys nothing: no unlink, but both rename
			// rights on both directories.
			both := rights.RenameFrom | rights.RenameTo
			return scenario{op: "exchange", args: []string{"a/f", "b/f"},
				deny:  grants{"a": dir(rights.RenameFrom, 0), "b": dir(both, 0)},
				allow: grants{"a": dir(both, 0), "b": dir(both, 0)}, hook: "path_rename"}
		}},
		{"link into directory without link-to", func(t *testing.T, d string) scenario {
			twoDirs(t, d)
			return scenario{op: "link", args: []string{"a/f", "b/g"},
				deny:  grants{"a": dir(rights.LinkFrom, 0), "b": dir(ro, 0)},
				allow: grants{"a": dir(rights.LinkFrom, 0), "b": dir(rights.LinkTo, 0)}, hook: "inode_link"}
		}},
		{"exec without exec right", execCase("exec", rights.Read|rights.MmapExec, "bprm_check_security")},
		{"execveat of an fd without exec right", execCase("execveat", rights.Read|rights.MmapExec, "bprm_check_security")},
		{"exec open without exec or mmap-exec", execCase("exec", ro, "file_open")},
		{"mmap PROT_EXEC", simple("mmap-exec", ro, ro|rights.MmapExec, "mmap_file")},
		{"mprotect PROT_EXEC", simple("mprotect-exec", ro, ro|rights.MmapExec, "file_mprotect")},
		{"bind mount", func(t *testing.T, d string) scenario {
			mountDirs(t, d)
			return scenario{op: "bind-mount", args: []string{"src", "mnt"},
				deny: grants{"src": dir(ro, ro), "mnt": dir(ro, 0)}, allow: grants{"src": dir(ro, ro), "mnt": dir(rights.Mount, 0)}, hook: "sb_mount"}
		}},
		{"bind mount of /proc/self/fd/N", func(t *testing.T, d string) scenario {
			mountDirs(t, d)
			return scenario{op: "bind-mount-procfd", args: []string{"src", "mnt"},
				deny: grants{"src": dir(ro, ro), "mnt": dir(ro, 0)}, allow: grants{"src": dir(ro, ro), "mnt": dir(rights.Mount, 0)}, hook: "sb_mount"}
		}},
		{"open_tree clone + move_mount", func(t *testing.T, d string) scenario {
			mountDirs(t, d)
			return scenario{op: "open-tree-move", args: []string{"src", "mnt"},
				deny: grants{"src": dir(ro, ro), "mnt": dir(rights.Mount, 0)}, allow: grants{"src": dir(rights.Mount, ro), "mnt": dir(rights.Mount, 0)}, hook: "move_mount"}
		}},
		{"umount", func(t *testing.T, d string) scenario {
			mnt := filepath.Join(d, "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("capfd-test", mnt, "tmpfs", 0, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
			// Granted after mounting: the grant is on the tmpfs root.
			return scenario{op: "umount", args: []string{mnt},
				deny: grants{mnt: dir(ro, 0)}, allow: grants{mnt: dir(rights.Mount, 0)}, hook: "sb_umount"}
		}},
	}
}

// TestHooks shows, for every refused operation, that an unmarked child may
// do it, a marked child granted the rights may do it, and a marked child
// without them is refused with EPERM by the expected hook, which reports the
// denial and counts it.
func TestHooks(t *testing.T) {
	e := loaded(t)
	for _, tc := range hookCases(t, e) {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("unmarked", func(t *testing.T) {
				d := t.TempDir()
				sc := tc.setup(t, d)
				c := startChild(t, false, sc.op, fixtureArgs(d, sc.args)...)
				if err := c.finish(t); err != nil {
					t.Fatalf("unmarked child: %s: %v (the operation must work without confinement)", sc.op, err)
				}
			})
			t.Run("marked-granted", func(t *testing.T) {
				d := t.TempDir()
				sc := tc.setup(t, d)
				sandbox := newSandbox()
				sc.allow.apply(t, e, sandbox, d)
				c := startChild(t, false, sc.op, fixtureArgs(d, sc.args)...)
				mark(t, e, c.pid(), sandbox)
				if err := c.finish(t); err != nil {
					t.Fatalf("marked child with %v: %s: %v", sc.allow, sc.op, err)
				}
			})
			t.Run("marked-denied", func(t *testing.T) {
				d := t.TempDir()
				sc := tc.setup(t, d)
				sandbox := newSandbox()
				sc.deny.apply(t, e, sandbox, d)
				before := e.Counts()[sc.hook]
				c := startChild(t, false, sc.op, fixtureArgs(d, sc.args)...)
				mark(t, e, c.pid(), sandbox)
				err := c.finish(t)
				if !errors.Is(err, unix.EPERM) {
					t.Fatalf("marked child with %v: %s: got %v, want EPERM", sc.deny, sc.op, err)
				}
				got := waitDenial(t, e, sandbox)
				if got.Hook != sc.hook {
					t.Errorf("denied by %s (%v), want %s", got.Hook, got, sc.hook)
				}
				if got.Needed == 0 {
					t.Errorf("denial names no missing right: %v", got)
				}
				if after := e.Counts()[sc.hook]; after <= before {
					t.Errorf("counter %s: %d before, %d after a denial", sc.hook, before, after)
				}
			})
		})
	}
}

func fixtureArgs(d string, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if _, isOp := ops[a]; isOp || filepath.IsAbs(a) {
			out[i] = a
		} else {
			out[i] = filepath.Join(d, a)
		}
	}
	return out
}

func mark(t *testing.T, e *Enforcer, pid int, sandbox uint32) {
	t.Helper()
	if err := e.MarkPID(pid, sandbox); err != nil {
		t.Fatal(err)
	}
}

// waitDenial returns the first denial reported for sandbox.
func waitDenial(t *testing.T, e *Enforcer, sandbox uint32) Denial {
	t.Helper()
	return waitDenialMatching(t, e, sandbox, func(Denial) bool { return true })
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// waitDenialMatching returns the first denial reported for sandbox that
// match accepts.
func waitDenialMatching(t *testing.T, e *Enforcer, sandbox uint32, match func(Denial) bool) Denial {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case d, ok := <-e.Denials():
			if !ok {
				t.Fatal("denials channel closed")
			}
			if d.Sandbox == sandbox && match(d) {
				return d
			}
		case <-timeout:
			t.Fatalf("no denial reported for sandbox %d", sandbox)
		}
	}
}

// TestPivotRoot: pivot_root needs the mount right on the new root and on
// the directory the old root moves to. It runs in the child's own mount
// namespace, which the parent reaches through /proc/PID/root to grant.
func TestPivotRoot(t *testing.T) {
	e := loaded(t)
	tests := []struct {
		name   string
		marked bool
		grant  rights.Rights // on new and new/old
		want   error
	}{
		{"unmarked", false, 0, nil},
		{"marked-granted", true, rights.Mount, nil},
		{"marked-denied", true, rights.ReadOnly, unix.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			c := startChild(t, false, "pivot-root", d)
			sandbox := newSandbox()
			if tt.marked {
				// The child is chrooted into its tmpfs: its "/new" is
				// /proc/PID/root/new from here.
				root := filepath.Join("/proc", strconv.Itoa(c.pid()), "root")
				for _, p := range []string{"new", "new/old"} {
					if err := e.GrantPath(sandbox, filepath.Join(root, p), dir(tt.grant, 0)); err != nil {
						t.Fatal(err)
					}
				}
				mark(t, e, c.pid(), sandbox)
			}
			if err := c.finish(t); !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Fatalf("pivot_root: got %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				if got := waitDenial(t, e, sandbox); got.Hook != "sb_pivotroot" {
					t.Errorf("denied by %s (%v), want sb_pivotroot", got.Hook, got)
				}
			}
		})
	}
}

// TestPtrace: a marked process may not reach into a process outside its
// sandbox (here: take its parent's stdout with pidfd_getfd); an unmarked one
// may.
func TestPtrace(t *testing.T) {
	e := loaded(t)
	for _, marked := range []bool{false, true} {
		sandbox := newSandbox()
		c := startChild(t, false, "getfd-parent")
		if marked {
			mark(t, e, c.pid(), sandbox)
		}
		err := c.finish(t)
		switch {
		case !marked && err != nil:
			t.Fatalf("unmarked child: pidfd_getfd of its parent: %v", err)
		case marked && !errors.Is(err, unix.EPERM):
			t.Fatalf("marked child: pidfd_getfd of its unmarked parent: got %v, want EPERM", err)
		case marked:
			if got := waitDenial(t, e, sandbox); got.Hook != "ptrace_access_check" {
				t.Errorf("denied by %s (%v), want ptrace_access_check", got.Hook, got)
			}
		}
	}
}

// TestStatPlumbing: fstat of a pipe (on a kernel-internal mount, which no
// grant can name) works in a sandbox with no grants at all.
func TestStatPlumbing(t *testing.T) {
	e := loaded(t)
	c := startChild(t, false, "fstat-pipe")
	mark(t, e, c.pid(), newSandbox())
	if err := c.finish(t); err != nil {
		t.Fatalf("marked child: fstat of its own pipe: %v", err)
	}
}

// TestDenialRecord checks what a denial says: the right hook, process,
// sandbox, inode and missing rights.
func TestDenialRecord(t *testing.T) {
	e := loaded(t)
	d := t.TempDir()
	f := filepath.Join(d, "f")
	writeFile(t, f, "x")
	sandbox := newSandbox()
	grants{"f": file(rights.Read)}.apply(t, e, sandbox, d)
	c := startChild(t, false, "open-write", f)
	mark(t, e, c.pid(), sandbox)
	pid := c.pid()
	if err := c.finish(t); !errors.Is(err, unix.EPERM) {
		t.Fatalf("got %v, want EPERM", err)
	}
	got := waitDenial(t, e, sandbox)
	var st unix.Stat_t
	if err := unix.Stat(f, &st); err != nil {
		t.Fatal(err)
	}
	want := Denial{Hook: "file_open", Pid: pid, Sandbox: sandbox, Dev: st.Dev, Ino: st.Ino, Needed: rights.Write, Granted: rights.Read}
	if got != want {
		t.Errorf("denial\n got %v\nwant %v", got, want)
	}
}

// TestInheritance: a process forked by a marked child after the mark is
// confined too, without being marked itself.
func TestInheritance(t *testing.T) {
	e := loaded(t)
	exe := mustExecutable(t)
	for _, marked := range []bool{false, true} {
		d := t.TempDir()
		f := filepath.Join(d, "f")
		writeFile(t, f, "x")
		sandbox := newSandbox()
		// The child needs to exec the test binary to fork the grandchild.
		grants{exe: file(rights.ReadExec), f: file(rights.Read)}.apply(t, e, sandbox, d)
		c := startChild(t, false, "spawn", exe, "open-write", f)
		if marked {
			mark(t, e, c.pid(), sandbox)
		}
		err := c.finish(t)
		switch {
		case marked && !errors.Is(err, unix.EPERM):
			t.Errorf("grandchild of a marked child: open for write got %v, want EPERM", err)
		case !marked && err != nil:
			t.Errorf("grandchild of an unmarked child: open for write: %v", err)
		}
		if marked {
			// The child may be refused other things on the way (os/exec
			// opens /dev/null); look for the grandchild's open of f.
			ino := inode(t, f)
			got := waitDenialMatching(t, e, sandbox, func(d Denial) bool { return d.Ino == ino })
			if got.Pid == c.pid() || got.Hook != "file_open" {
				t.Errorf("want the grandchild refused by file_open, got %v (child is pid %d)", got, c.pid())
			}
		}
	}
}

// TestThreads: the mark is put on the thread-group leader; a thread that
// existed before is confined through it, and a thread that execs keeps it.
func TestThreads(t *testing.T) {
	e := loaded(t)
	t.Run("existing thread", func(t *testing.T) {
		d := t.TempDir()
		f := filepath.Join(d, "f")
		writeFile(t, f, "x")
		sandbox := newSandbox()
		grants{f: file(rights.Read)}.apply(t, e, sandbox, d)
		c := startChild(t, true, "open-write", f)
		mark(t, e, c.pid(), sandbox)
		if err := c.finish(t); !errors.Is(err, unix.EPERM) {
			t.Fatalf("open for write on a non-leader thread: got %v, want EPERM", err)
		}
	})
	t.Run("exec from thread", func(t *testing.T) {
		// exec from a thread other than the leader frees the old leader,
		// and the mark stored there; the new image must still be confined.
		prog := testProg(t)
		d := t.TempDir()
		f := filepath.Join(d, "f")
		writeFile(t, f, "x")
		sandbox := newSandbox()
		grants{prog: file(rights.ReadExec)}.apply(t, e, sandbox, d)
		c := startChild(t, true, "exec", prog, "open-read", f)
		mark(t, e, c.pid(), sandbox)
		if err := c.finish(t); !errors.Is(err, unix.EPERM) {
			t.Fatalf("after exec from a non-leader thread: open got %v, want EPERM", err)
		}
	})
}

// TestUnmarkRevoke: Unmark lifts confinement; Revoke takes a grant back;
// grants of one sandbox mean nothing to another.
func TestUnmarkRevoke(t *testing.T) {
	e := loaded(t)
	d := t.TempDir()
	f := filepath.Join(d, "f")
	writeFile(t, f, "x")

	t.Run("unmark", func(t *testing.T) {
		sandbox := newSandbox()
		c := startChild(t, false, "open-read", f)
		pidfd, err := unix.PidfdOpen(c.pid(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pidfd)
		if err := e.Mark(pidfd, sandbox); err != nil {
			t.Fatal(err)
		}
		if got, err := e.SandboxOf(pidfd); err != nil || got != sandbox {
			t.Fatalf("SandboxOf = %d, %v; want %d", got, err, sandbox)
		}
		if err := e.Unmark(pidfd); err != nil {
			t.Fatal(err)
		}
		if err := c.finish(t); err != nil {
			t.Fatalf("unmarked again: open: %v", err)
		}
		if err := e.Unmark(pidfd); err == nil {
			t.Error("second Unmark succeeded")
		}
	})
	t.Run("revoke", func(t *testing.T) {
		sandbox := newSandbox()
		if err := e.GrantPath(sandbox, f, file(rights.ReadOnly)); err != nil {
			t.Fatal(err)
		}
		if err := e.RevokePath(sandbox, f); err != nil {
			t.Fatal(err)
		}
		c := startChild(t, false, "open-read", f)
		mark(t, e, c.pid(), sandbox)
		if err := c.finish(t); !errors.Is(err, unix.EPERM) {
			t.Fatalf("after revoke: open got %v, want EPERM", err)
		}
		if err := e.RevokePath(sandbox, f); err == nil {
			t.Error("revoking a revoked grant succeeded")
		}
	})
	t.Run("revoke sandbox", func(t *testing.T) {
		sandbox := newSandbox()
		for _, p := range []string{d, f} {
			if err := e.GrantPath(sandbox, p, dir(rights.ReadOnly, rights.ReadOnly)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := e.RevokeSandbox(sandbox); err != nil || n != 2 {
			t.Fatalf("RevokeSandbox = %d, %v; want 2", n, err)
		}
	})
	t.Run("other sandbox", func(t *testing.T) {
		granted, other := newSandbox(), newSandbox()
		if err := e.GrantPath(granted, f, file(rights.ReadOnly)); err != nil {
			t.Fatal(err)
		}
		c := startChild(t, false, "open-read", f)
		mark(t, e, c.pid(), other)
		if err := c.finish(t); !errors.Is(err, unix.EPERM) {
			t.Fatalf("grant of sandbox %d used by sandbox %d: got %v, want EPERM", granted, other, err)
		}
	})
}

// TestBadArguments: invalid input is an error, never a panic or a grant.
func TestBadArguments(t *testing.T) {
	e := loaded(t)
	f := filepath.Join(t.TempDir(), "f")
	writeFile(t, f, "x")
	tests := []struct {
		name string
		err  error
	}{
		{"mark sandbox 0", e.MarkPID(os.Getpid(), 0)},
		{"mark negative pidfd", e.Mark(-1, 1)},
		{"mark non-pidfd", e.Mark(0, 1)},
		{"unmark negative pidfd", e.Unmark(-1)},
		{"grant sandbox 0", e.GrantPath(0, f, file(rights.Read))},
		{"grant unknown rights", e.GrantPath(1, f, file(1<<62))},
		{"grant missing path", e.GrantPath(1, filepath.Join(f, "nope"), file(rights.Read))},
		{"revoke never granted", e.Revoke(1, 0, 1)},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestHookProbe: hooks are chosen by the kernel's BTF, never by version;
// every program is either attached or reported skipped, and only hooks the
// kernel lacks are skipped.
func TestHookProbe(t *testing.T) {
	e := loaded(t)
	kernel := kernelBTF(t)
	spec, err := loadCapfd()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, p := range spec.Programs {
		all = append(all, p.AttachTo)
	}
	got := append(e.Attached(), e.Skipped()...)
	slices.Sort(all)
	slices.Sort(got)
	if !slices.Equal(got, all) {
		t.Fatalf("attached+skipped = %v, want every program's hook %v", got, all)
	}
	for _, h := range e.Attached() {
		if !hookInBTF(kernel, h) {
			t.Errorf("attached %s, which this kernel's BTF lacks", h)
		}
	}
	for _, h := range e.Skipped() {
		if hookInBTF(kernel, h) {
			t.Errorf("skipped %s, which this kernel has", h)
		}
		if essentialHooks[h] {
			t.Errorf("skipped essential hook %s", h)
		}
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	t.Logf("kernel %s: attached %v, skipped %v", unix.ByteSliceToString(uts.Release[:]), e.Attached(), e.Skipped())
}

// TestClose: Close detaches every link and unloads, and nothing stays
// behind in the kernel.
func TestClose(t *testing.T) {
	requireBPFLSM(t)
	fdsBefore := openFDs(t)
	e, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.LinkIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(e.Attached()) {
		t.Fatalf("%d links for %d attached hooks", len(ids), len(e.Attached()))
	}
	for _, id := range ids {
		l, err := link.NewFromID(id)
		if err != nil {
			t.Fatalf("link %d before Close: %v", id, err)
		}
		l.Close()
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		l, err := link.NewFromID(id)
		if err == nil {
			l.Close()
			t.Errorf("link %d still exists after Close", id)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("link %d after Close: %v", id, err)
		}
	}
	if _, ok := <-e.Denials(); ok {
		t.Error("Denials not closed by Close")
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if fdsAfter := openFDs(t); fdsAfter != fdsBefore {
		t.Errorf("%d fds open before Load, %d after Close", fdsBefore, fdsAfter)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func kernelBTF(t *testing.T) *btf.Spec {
	t.Helper()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
