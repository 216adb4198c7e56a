package vfsops

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// vfsops is the one filesystem syscall layer (doc.go). This test holds the
// rest of the module to it: it parses every non-test .go file outside
// vfsops and fails on any call of a filesystem function below that the
// allowlist does not name, with a reason. A new raw call means either a
// function here (small, documented, errors with context) or an allowlist
// entry saying why that code may bypass vfsops.

// fsCalls are the filesystem functions of golang.org/x/sys/unix and
// syscall (same names in both): everything that resolves a path, changes
// or reads a file's metadata, reads a directory or a link, duplicates or
// reconfigures a file descriptor, or mounts. I/O on an open descriptor
// (Read, Write, Pread, Pwrite, Seek) and Close are left out: they resolve
// nothing, and pipes, sockets and eventfds use them as much as files.
var fsCalls = set(
	// Opening by path.
	"Open", "Openat", "Openat2", "Creat",
	// Status and access checks.
	"Stat", "Lstat", "Fstat", "Fstatat", "Statx", "Statfs", "Fstatfs",
	"Access", "Faccessat", "Faccessat2",
	// Links and directory entries.
	"Readlink", "Readlinkat", "Mkdir", "Mkdirat", "Mknod", "Mknodat",
	"Unlink", "Unlinkat", "Rmdir", "Rename", "Renameat", "Renameat2",
	"Link", "Linkat", "Symlink", "Symlinkat", "Getdents", "ReadDirent",
	// Metadata.
	"Chmod", "Fchmod", "Fchmodat", "Chown", "Lchown", "Fchown", "Fchownat",
	"Utime", "Utimes", "UtimesNano", "UtimesNanoAt", "Futimes", "Lutimes",
	"Truncate", "Ftruncate", "Fallocate", "Fsync", "Fdatasync", "Flock",
	"Setxattr", "Lsetxattr", "Fsetxattr", "Getxattr", "Lgetxattr", "Fgetxattr",
	"Listxattr", "Llistxattr", "Flistxattr", "Removexattr", "Lremovexattr", "Fremovexattr",
	// Descriptors of files.
	"Dup", "Dup2", "Dup3", "FcntlInt", "NameToHandleAt", "OpenByHandleAt",
	// The process's view of the tree, and mounts.
	"Chdir", "Fchdir", "Chroot", "PivotRoot", "Mount", "Unmount",
	"OpenTree", "MoveMount", "Fsopen", "Fsmount", "Fspick", "MountSetattr",
	"FsconfigCreate", "FsconfigSetString", "FsconfigSetFlag",
	// Running a file by name.
	"Exec", "Execveat",
)

// osCalls are the os functions that take a path (os.NewFile and methods on
// an *os.File already open are not here: they resolve nothing).
var osCalls = set(
	"Open", "OpenFile", "Create", "ReadFile", "WriteFile", "ReadDir",
	"Stat", "Lstat", "Readlink", "Mkdir", "MkdirAll", "MkdirTemp", "CreateTemp",
	"Remove", "RemoveAll", "Rename", "Link", "Symlink", "Chmod", "Chown",
	"Lchown", "Chtimes", "Truncate", "Chdir", "DirFS", "OpenRoot", "OpenInRoot", "CopyFS",
)

// allowed is a call outside vfsops that may stay: in Dir (a package
// directory relative to the module root; a trailing "/" takes every
// package beneath), in File if set (base name), calling Call ("unix.Open",
// "os.*" for every os function of the lists, "*" for all).
type allowed struct {
	Dir, File, Call, Why string
}

var allowlist = []allowed{
	// Programs and harnesses that test the sandbox: they make raw calls
	// on purpose (an attack must be the call a confined program makes,
	// not vfsops' checked form), or set up and inspect fixtures from the
	// unconfined side.
	{Dir: "tests/", Call: "*", Why: "test programs and suites: the raw calls are what is being tested, or fixture setup outside any sandbox"},
	{Dir: "examples/", Call: "*", Why: "example programs and their test harness show ordinary code, not capfd internals"},
	{Dir: "internal/vmtest/", Call: "*", Why: "builds and boots test VMs (initramfs, kernel images, the VM's init mounting its filesystems): host-side tooling, no capability semantics"},
	{Dir: "internal/treestate", Call: "*", Why: "snapshots a test tree by path for before/after comparison: test support, unconfined"},
	{Dir: "internal/semtest", Call: "os.*", Why: "builds the path-semantics tests' scratch trees by path: test support, unconfined"},
	{Dir: "internal/semtest", File: "semtest.go", Call: "unix.Readlinkat", Why: "the plain readlinkat(2) that vfsops' and capfd's readlink cases are compared with: the reference, not a capability"},
	{Dir: "broker/brokertest", Call: "*", Why: "shared test cases: fixtures are made and checked by path from outside the sandbox, and write attempts are the raw calls a client would make"},

	// Reading its own configuration and the kernel's facts about itself:
	// trusted input the program names itself, before or beside any
	// capability (a confined program never chooses these paths).
	{Dir: "broker", File: "configfile.go", Call: "os.Open", Why: "the broker's config file, named by its operator"},
	{Dir: "cmd/capfd", File: "run.go", Call: "os.*", Why: "capfd run's grant file (--config), audit stream (--audit) and learned grants (--learn), named on its command line"},
	{Dir: "cmd/capfd", File: "broker.go", Call: "os.*", Why: "the broker's audit log and listening socket, created at paths from its own config (Lstat/Remove of a stale socket, Chmod of the new one)"},
	{Dir: "broker", File: "grantcheck.go", Call: "os.*", Why: "explains a grant that failed to open (dangling symlink, not a directory) for the error message; decides nothing"},
	{Dir: "broker/landlock", File: "restrict.go", Call: "os.Stat", Why: "Landlock rules are by path by design: whether a granted path is a directory picks the access bits, before the ruleset is enforced"},
	{Dir: "broker/notify/launch", File: "broker_linux.go", Call: "os.Stat", Why: "the launcher sorts its own grants into directories and files before the program starts"},
	{Dir: "broker/notify/launch", File: "memfd_linux.go", Call: "os.OpenFile", Why: "writes the kernel's vm.memfd_noexec sysctl (/proc/sys), a setting of the launcher's own"},
	{Dir: "broker/notify/launch", File: "stage2_linux.go", Call: "unix.Exec", Why: "stage 2 execs the confined program by the name the user gave, after the filter is installed: the one exec the launcher exists for"},
	{Dir: "broker/lsm", File: "probe.go", Call: "os.ReadFile", Why: "reads /sys/kernel/security/lsm to learn whether the BPF LSM is active"},
	{Dir: "broker/lsm", File: "grants.go", Call: "unix.Stat", Why: "GrantPath/RevokePath: conveniences for tests and tools that name a path; the broker itself grants the inode of the descriptor it serves (broker.GrantedObject)"},
	{Dir: "broker", File: "threads.go", Call: "os.ReadFile", Why: "the broker's own /proc/self/uid_map and status (its own threads and id mapping): the supervisor's view of itself, not of a confined task"},
	{Dir: "broker", File: "spare.go", Call: "unix.Open", Why: "the spare descriptor is /dev/null, reopened to be released under EMFILE: a placeholder, never a file anyone uses"},

	// Not yet moved.
}

func TestFilesystemSyscallsOnlyInVfsops(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	used := make([]bool, len(allowlist))
	var bad []string
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "vfsops" || rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, c := range fsCallsIn(f) {
			dir, file := pathDir(rel), pathBase(rel)
			if i := allow(dir, file, c.call); i >= 0 {
				used[i] = true
				continue
			}
			bad = append(bad, fmt.Sprintf("%s:%d: %s", rel, fset.Position(c.pos).Line, c.call))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("filesystem syscall outside vfsops, not in the allowlist: %s", b)
	}
	for i, a := range allowlist {
		if !used[i] {
			t.Errorf("allowlist entry matches no call (remove it): %+v", a)
		}
	}
}

type fsCall struct {
	call string // "unix.Openat"
	pos  token.Pos
}

// fsCallsIn finds the calls of fsCalls and osCalls in f, through whatever
// name the file imports the packages as. A package name shadowed by a
// local variable would be misread; the module has none.
func fsCallsIn(f *ast.File) []fsCall {
	names := map[string]string{} // local name -> "unix", "syscall", "os"
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		var pkg string
		switch path {
		case "golang.org/x/sys/unix":
			pkg = "unix"
		case "syscall":
			pkg = "syscall"
		case "os":
			pkg = "os"
		default:
			continue
		}
		local := pkg
		if imp.Name != nil {
			local = imp.Name.Name
		}
		names[local] = pkg
	}
	var out []fsCall
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		pkg, ok := names[x.Name]
		if !ok {
			return true
		}
		list := fsCalls
		if pkg == "os" {
			list = osCalls
		}
		if list[sel.Sel.Name] {
			out = append(out, fsCall{call: pkg + "." + sel.Sel.Name, pos: call.Pos()})
		}
		return true
	})
	return out
}

// allow returns the index of the allowlist entry covering call in dir/file,
// or -1.
func allow(dir, file, call string) int {
	for i, a := range allowlist {
		inDir := a.Dir == dir || strings.HasSuffix(a.Dir, "/") && strings.HasPrefix(dir+"/", a.Dir)
		if !inDir || a.File != "" && a.File != file {
			continue
		}
		pkg, _, _ := strings.Cut(call, ".")
		if a.Call == "*" || a.Call == call || a.Call == pkg+".*" {
			return i
		}
	}
	return -1
}

func pathDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

func pathBase(rel string) string { return rel[strings.LastIndexByte(rel, '/')+1:] }

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// The scanner sees through renamed imports and covers syscall and os.
func TestFsCallsInFindsRenamedImports(t *testing.T) {
	src := `package p
import (
	sys "golang.org/x/sys/unix"
	"os"
	"syscall"
)
func f() {
	sys.Readlinkat(0, "x", nil)
	syscall.Open("x", 0, 0)
	os.ReadFile("x")
	sys.Close(0)
	os.Getpid()
}`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range fsCallsIn(f) {
		got = append(got, c.call)
	}
	if want := "unix.Readlinkat syscall.Open os.ReadFile"; strings.Join(got, " ") != want {
		t.Fatalf("found %v, want %s", got, want)
	}
}
