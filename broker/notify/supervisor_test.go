package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

func requireNotify(t *testing.T) {
	t.Helper()
	if err := seccomp.Probe(); err != nil {
		t.Skipf("seccomp user notification unavailable: %v", err)
	}
}

// tree builds the test filesystem and returns its root:
//
//	data/hello.txt, data/sub/inner.txt        granted read-only
//	data/in-link -> sub/inner.txt             stays inside
//	data/out-abs -> ROOT/secret/s.txt         leads out (absolute)
//	data/out-rel -> ../secret/s.txt           leads out (relative)
//	rw/                                       granted read-write
//	data/to-rw -> ROOT/rw/file                leads into another grant
//	rw/fifo                                   a FIFO
//	secret/s.txt                              granted nothing
func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"data/sub", "rw", "secret"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(root, "data/hello.txt"), []byte("hello\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "data/sub/inner.txt"), []byte("inner\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "secret/s.txt"), []byte("secret\n"), 0o644))
	must(os.Symlink("sub/inner.txt", filepath.Join(root, "data/in-link")))
	must(os.Symlink(filepath.Join(root, "secret/s.txt"), filepath.Join(root, "data/out-abs")))
	must(os.Symlink("../secret/s.txt", filepath.Join(root, "data/out-rel")))
	must(unix.Mkfifo(filepath.Join(root, "rw/fifo"), 0o644))
	must(os.WriteFile(filepath.Join(root, "rw/file"), []byte("in rw\n"), 0o644))
	must(os.Symlink(filepath.Join(root, "rw/file"), filepath.Join(root, "data/to-rw")))
	return root
}

func grantsFor(root string) []Grant {
	return []Grant{
		{Path: filepath.Join(root, "data"), Rights: rights.Uniform(rights.ReadOnly)},
		{Path: filepath.Join(root, "rw"), Rights: rights.Uniform(rights.ReadWrite)},
	}
}

// TestConfinement runs each step twice: unconfined, where every attack
// works (the test proves the attack is real), and under the supervisor,
// where it must fail.
func TestConfinement(t *testing.T) {
	requireNotify(t)
	root := tree(t)
	data, rw, secret := filepath.Join(root, "data"), filepath.Join(root, "rw"), filepath.Join(root, "secret")
	cases := []struct {
		name       string
		step       string
		plain      string // "" when the unconfined result does not matter
		confined   string
		logMention string // the supervisor log must mention this
	}{
		{"read granted", "read:" + data + "/hello.txt", "ok hello", "ok hello", ""},
		{"read granted via relative cwd", "read:hello.txt", "ok hello", "ok hello", ""},
		{"read granted subdir", "read:" + data + "/sub/inner.txt", "ok inner", "ok inner", ""},
		{"symlink staying inside", "read:" + data + "/in-link", "ok inner", "ok inner", ""},
		{"dot-dot inside the grant", "read:" + data + "/sub/../hello.txt", "ok hello", "ok hello", ""},
		{"openat on an installed dirfd", "readat:" + data + ":sub/inner.txt", "ok inner", "ok inner", ""},
		{"cloexec honoured", "cloexec:" + data + "/hello.txt", "ok 0 1", "ok 0 1", ""},
		{"fstat of installed fd", "fstat:" + data + "/hello.txt", "ok size=6", "ok size=6", ""},
		{"stat granted", "stat:" + data + "/hello.txt", "ok size=6 mode=100000", "ok size=6 mode=100000", ""},
		{"lstat symlink", "lstat:" + data + "/in-link", "ok size=13 mode=120000", "ok size=13 mode=120000", ""},
		{"statx granted", "statx:" + data + "/hello.txt", "ok size=6 mask=true", "ok size=6 mask=true", ""},
		{"readlink granted", "readlink:" + data + "/in-link", "ok sub/inner.txt", "ok sub/inner.txt", ""},
		{"access granted", "access:" + data + "/hello.txt:r", "ok", "ok", ""},
		{"write in rw grant", "write:" + rw + "/new.txt:x", "ok", "ok", ""},
		{"mkdir in rw grant", "mkdir:" + rw + "/d", "ok", "ok", ""},
		{"rename in rw grant", "rename:" + rw + "/d:" + rw + "/e", "ok", "ok", ""},
		{"rmdir in rw grant", "rmdir:" + rw + "/e", "ok", "ok", ""},
		{"truncate in rw grant", "truncate:" + rw + "/new.txt", "ok", "ok", ""},
		{"fifo between two tasks", "fifo:" + rw + "/fifo", "ok via-fifo", "ok via-fifo", ""},
		{"unlink in rw grant", "unlink:" + rw + "/new.txt", "ok", "ok", ""},
		{"efault path", "efault", "EFAULT", "EFAULT", ""},
		{"path too long", "toolong", "ENAMETOOLONG", "ENAMETOOLONG", ""},

		// Attacks: each works unconfined and is refused confined.
		{"absolute path outside", "read:" + secret + "/s.txt", "ok secret", "ENOENT", "outside every grant"},
		{"dot-dot out of the grant", "read:" + data + "/../secret/s.txt", "ok secret", "ENOENT", "outside every grant"},
		{"relative dot-dot from cwd", "read:../secret/s.txt", "ok secret", "ENOENT", "outside every grant"},
		{"absolute symlink out", "read:" + data + "/out-abs", "ok secret", "ENOENT", "outside every grant"},
		{"relative symlink out", "read:" + data + "/out-rel", "ok secret", "ENOENT", "outside every grant"},
		{"symlink into another grant", "read:" + data + "/to-rw", "ok in rw", "ok in rw", ""},
		{"stat through symlink out", "stat:" + data + "/out-abs", "ok size=7 mode=100000", "ENOENT", ""},
		{"openat dirfd dot-dot", "readat:" + data + ":../secret/s.txt", "ok secret", "ENOENT", "outside every grant"},
		{"openat2 beneath dirfd", "beneath:" + data + ":../secret/s.txt", "EXDEV", "EXDEV", ""},
		{"openat2 beneath, inside", "beneath:" + data + ":sub/inner.txt", "ok inner", "ok inner", ""},
		{"openat2 in root: .. stays at the dirfd", "inroot:" + data + ":/../../hello.txt", "ok hello", "ok hello", ""},
		{"openat2 no symlinks", "nosymlinks:" + data + ":in-link", "ELOOP", "ELOOP", ""},
		{"write through ro grant", "write:" + data + "/hello.txt:pwned", "ok", "EACCES", "needs write"},
		{"create in ro grant", "write:" + data + "/new.txt:x", "ok", "EACCES", "needs"},
		{"unlink in ro grant", "unlink:" + data + "/hello.txt", "", "EACCES", "needs unlink"},
		{"truncate in ro grant", "truncate:" + data + "/sub/inner.txt", "", "EACCES", "needs truncate"},
		{"reopen /proc/self/fd for write", "reopen-write:" + data + "/sub/inner.txt", "ok", "EACCES", "more than the descriptor gives"},
		{"/proc/self/root escape", "read:/proc/self/root" + secret + "/s.txt", "ok secret", "ENOENT", "outside every grant"},
		{"stat outside", "stat:" + secret + "/s.txt", "ok size=7 mode=100000", "ENOENT", ""},
		// Outside every grant a path is absent whether or not it exists:
		// the answer tells nothing about the host's files.
		{"stat outside, missing", "stat:" + secret + "/missing", "ENOENT", "ENOENT", ""},
		{"create outside", "write:" + secret + "/new.txt:x", "ok", "ENOENT", "outside every grant"},
		// The skeleton: the directories above the grants exist, for
		// stat and access only.
		{"stat an ancestor", "isdir:" + root, "ok dir=true", "ok dir=true", ""},
		{"stat the root", "isdir:/", "ok dir=true", "ok dir=true", ""},
		{"stat a grant's parent as ..", "isdir:" + data + "/..", "ok dir=true", "ok dir=true", ""},
		{"stat above an ancestor as ..", "isdir:" + data + "/../..", "ok dir=true", "ok dir=true", ""},
		{"access an ancestor", "access:" + root + ":f", "ok", "ok", ""},
		{"list an ancestor", "read:" + root, "read EISDIR", "EACCES", "outside every grant"},
		{"create in an ancestor", "write:" + root + "/new.txt:x", "ok", "EACCES", "outside every grant"},
		{"readlink an ancestor", "readlink:" + root, "EINVAL", "EINVAL", ""},
		{"symlink planted by the program", "symlink:" + secret + "/s.txt:" + rw + "/planted", "ok", "ok", ""},
		{"follow the planted symlink", "read:" + rw + "/planted", "ok secret", "ENOENT", "outside every grant"},
		// chdir outside every grant is refused (its answer would tell
		// whether the directory exists), so the relative read that
		// follows still resolves in the granted cwd.
		{"chdir out is refused", "chdir:" + secret, "ok", "ENOENT", "not capable: chdir"},
		{"relative after the refused chdir", "read:s.txt", "ok secret", "ENOENT", ""},
	}
	steps := make([]string, len(cases))
	for i, c := range cases {
		steps[i] = c.step
	}
	// Two fresh trees: the steps change files.
	plainRoot := tree(t)
	plainSteps := make([]string, len(steps))
	for i, s := range steps {
		plainSteps[i] = strings.ReplaceAll(s, root, plainRoot)
	}
	plain, _ := runChild(t, nil, true, filepath.Join(plainRoot, "data"), plainSteps...)
	// vfsops keeps one private procfs handle per process, opened on first
	// use (Reopen, which O_PATH opens need): a warm-up run opens it before
	// the descriptors are counted.
	runChild(t, grantsFor(plainRoot), false, plainRoot, "beneath:"+plainRoot+"/data:hello.txt")
	fds := openFds(t)
	confined, log := runChild(t, grantsFor(root), false, data, steps...)
	if after := openFds(t); after != fds {
		links, _ := filepath.Glob("/proc/self/fd/*")
		var desc []string
		for _, l := range links {
			target, _ := os.Readlink(l)
			desc = append(desc, l+" -> "+target)
		}
		t.Errorf("the supervisor leaked descriptors: %d open before, %d after:\n%s", fds, after, strings.Join(desc, "\n"))
	}
	for i, c := range cases {
		if c.plain != "" && strings.ReplaceAll(plain[i], plainRoot, root) != c.plain {
			t.Errorf("%s: unconfined %q: got %q, want %q (the attack must work without capfd)", c.name, c.step, plain[i], c.plain)
		}
		if confined[i] != c.confined {
			t.Errorf("%s: confined %q: got %q, want %q", c.name, c.step, confined[i], c.confined)
		}
		if c.logMention != "" && !strings.Contains(log, c.logMention) {
			t.Errorf("%s: log does not mention %q:\n%s", c.name, c.logMention, log)
		}
	}
	if t.Failed() {
		t.Logf("supervisor log:\n%s", log)
	}
	if b, err := os.ReadFile(filepath.Join(data, "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("hello.txt changed under a read-only grant: %q, %v", b, err)
	}
}

// A cwd outside every grant makes relative paths refused, even for names
// that exist.
func TestRelativeFromUngrantedCwd(t *testing.T) {
	requireNotify(t)
	root := tree(t)
	got, log := runChild(t, grantsFor(root), false, root, "read:data/hello.txt", "read:secret/s.txt")
	// root itself is not granted, but root/data is: the joined path
	// root/data/hello.txt lies in a grant, so it is allowed; secret not.
	want := []string{"ok hello", "ENOENT"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(log, "not capable: open "+root+"/secret/s.txt (needs read, outside every grant; --grant "+root+"/secret/s.txt=ro would allow it)") {
		t.Errorf("log lacks the refusal line:\n%s", log)
	}
}

func TestMountRefused(t *testing.T) {
	requireNotify(t)
	root := tree(t)
	got, _ := runChild(t, grantsFor(root), false, root, "mount:"+filepath.Join(root, "rw"))
	if got[0] != "EPERM" {
		t.Errorf("mount: got %q, want EPERM", got[0])
	}
}

func TestGrantMatch(t *testing.T) {
	tbl := &grantTable{grants: []*grant{
		{names: []string{"/data"}},
		{names: []string{"/data/sub"}},
		{names: []string{"/lib", "/usr/lib"}},
		{names: []string{"/"}},
	}}
	cases := []struct {
		abs, grant, rest string
	}{
		{"/data", "/data", "."},
		{"/data/x", "/data", "x"},
		{"/data/sub", "/data/sub", "."},
		{"/data/sub/y/z", "/data/sub", "y/z"},
		{"/database", "/", "database"},
		{"/usr/lib/libc.so", "/lib", "libc.so"},
		{"/lib/libc.so", "/lib", "libc.so"},
		{"/", "/", "."},
	}
	for _, c := range cases {
		g, rest := tbl.match(c.abs)
		if g == nil || g.names[0] != c.grant || rest != c.rest {
			name := "<nil>"
			if g != nil {
				name = g.names[0]
			}
			t.Errorf("match(%q) = %s, %q; want %s, %q", c.abs, name, rest, c.grant, c.rest)
		}
	}
	if g, _ := (&grantTable{grants: tbl.grants[:2]}).match("/etc/passwd"); g != nil {
		t.Errorf("match outside every grant returned %v", g.names)
	}
}

func TestGrantProcRefused(t *testing.T) {
	_, err := New(Config{Grants: []Grant{{Path: "/proc", Rights: rights.Uniform(rights.ReadOnly)}}})
	if err == nil || !strings.Contains(err.Error(), "procfs") {
		t.Fatalf("granting /proc: got %v, want a procfs refusal", err)
	}
	_, err = New(Config{Grants: []Grant{{Path: "relative/path", Rights: rights.Uniform(rights.ReadOnly)}}})
	if err == nil {
		t.Fatal("relative grant path accepted")
	}
}

func TestNotifSizesMatchKernel(t *testing.T) {
	var sizes struct{ notif, resp, data uint16 }
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptr(unsafePointer(&sizes)))
	if errno != 0 {
		t.Skipf("SECCOMP_GET_NOTIF_SIZES: %v", errno)
	}
	if sizes.notif != sizeofNotifReq || sizes.resp != sizeofNotifResp || sizes.data != 64 {
		t.Fatalf("kernel sizes %+v, ours notif=%d resp=%d", sizes, sizeofNotifReq, sizeofNotifResp)
	}
}

// openFds counts this process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// Before Linux 6.6 Serve is one thread with non-blocking open probes: the
// FIFO and ordinary steps must work the same there.
func TestLegacyServeLoop(t *testing.T) {
	requireNotify(t)
	forceLegacyServe = true
	defer func() { forceLegacyServe = false }()
	root := tree(t)
	rw, data := filepath.Join(root, "rw"), filepath.Join(root, "data")
	got, _ := runChild(t, grantsFor(root), false, data, "fifo:"+rw+"/fifo", "read:hello.txt", "read:"+root+"/secret/s.txt", "cloexec:hello.txt")
	want := []string{"ok via-fifo", "ok hello", "ENOENT", "ok 0 1"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

// TestRightsAt: the rights the grants give an object by its path: a
// grant's base rights for the granted object, the inherit rights of the
// nearest granted ancestor beneath it, nothing outside every grant or for
// a missing optional grant.
func TestRightsAt(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", "a/nested"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sup, err := New(Config{Grants: []Grant{
		{Path: filepath.Join(root, "a"), Rights: rights.Pair{Base: rights.ReadOnly, Inherit: rights.ReadExec}},
		{Path: filepath.Join(root, "a/nested"), Rights: rights.Uniform(rights.ReadWrite)},
		{Path: filepath.Join(root, "gone"), Rights: rights.Uniform(rights.All), Optional: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	for _, tc := range []struct {
		path string
		want rights.Rights
		ok   bool
	}{
		{"a", rights.ReadOnly, true},
		{"a/", rights.ReadOnly, true},
		{"a/b/x", rights.ReadExec, true},
		{"a/nested", rights.ReadWrite, true},
		{"a/nested/deep", rights.ReadWrite, true},
		{"ab", 0, false},
		{"gone", 0, false},
		{".", 0, false},
	} {
		got, ok := sup.RightsAt(filepath.Join(root, tc.path))
		if got != tc.want || ok != tc.ok {
			t.Errorf("RightsAt(%s) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}
