package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Descriptor operations are decided by the rights of the object the
// descriptor refers to, not by whether any grant carries the right: with
// D granted ro and W rw (which carries chmod, chown is added to it), a
// program that opens D/f read-only could fchmod, fchown, futimens,
// fsetxattr and chattr it before, as it can plainly. fdops makes each call
// on a descriptor (testdata/fdops).

// fdFixture is D (ro), W (rw,chown) and A (append-only), each with a file;
// A/log holds "HEADER\n".
type fdFixture struct{ root, d, w, a string }

func newFdFixture(t *testing.T) fdFixture {
	t.Helper()
	root := t.TempDir()
	f := fdFixture{root: root, d: filepath.Join(root, "D"), w: filepath.Join(root, "W"), a: filepath.Join(root, "A")}
	for _, dir := range []string{f.d, f.w, f.a} {
		mkdir(t, dir)
	}
	for _, p := range []string{f.d + "/f", f.w + "/f"} {
		if err := os.WriteFile(p, []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(f.a+"/log", []byte("HEADER\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failed chattr test must not leave a file the cleanup cannot
	// remove.
	t.Cleanup(func() {
		for _, p := range []string{f.d + "/f", f.w + "/f"} {
			setAppendFlag(p, false)
		}
	})
	return f
}

// fdMode is one way a per-object test acts on a file: plainly or under
// capfd run, and whether the operation must work there.
type fdMode struct {
	name     string
	confined bool
	file     string
	works    bool
}

// modes are the three ways a per-object test tries its operation: plainly
// on the ro-granted file (it works: the attack is real), confined on that
// file (refused) and confined on the rw-granted file (it works).
func (f fdFixture) modes() []fdMode {
	return []fdMode{
		{"plainly, ro file", false, f.d + "/f", true},
		{"confined, ro file", true, f.d + "/f", false},
		{"confined, rw file", true, f.w + "/f", true},
	}
}

func (f fdFixture) grants() []string {
	return []string{
		"--grant", f.d + "=ro",
		"--grant", f.w + "=rw,chown",
		"--grant", f.a + "=append,read,lookup,stat,create",
		"--grant", bin.dir + "=rx",
	}
}

// fdops runs testdata/fdops plainly or under capfd run (with extra flags)
// and returns its step lines and the outcome.
func (f fdFixture) fdops(t *testing.T, confined bool, flags []string, args ...string) (map[string]string, outcome) {
	t.Helper()
	var o outcome
	if confined {
		o = capfdRun(t, f.root, append(flags, f.grants()...), append([]string{bin.fdops}, args...)...)
	} else {
		o = run(t, f.root, append([]string{bin.fdops}, args...)...)
	}
	steps := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(o.stdout), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			steps[k] = v
		}
	}
	return steps, o
}

func wantSteps(t *testing.T, what string, got, want map[string]string, o outcome) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s: got %q, want %q\n%+v", what, k, got[k], v, o)
		}
	}
}

func modeOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

// TestFdAttrsPerObject: fchmod, fchown, futimens and fsetxattr of a
// read-only descriptor of a ro-granted file work plainly and are refused
// under capfd run, the file unchanged; on the rw-granted file they work.
func TestFdAttrsPerObject(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("fchown to the file's own owner and the setuid bit it clears are shown as root")
	}
	cases := []struct {
		op    string
		steps []string
		// changed reports whether the op changed p.
		changed func(t *testing.T, p string) bool
		prep    func(t *testing.T, p string)
	}{
		{op: "chmod", steps: []string{"fchmod"},
			prep:    func(t *testing.T, p string) { chmod(t, p, 0o644) },
			changed: func(t *testing.T, p string) bool { return modeOf(t, p).Perm() == 0o600 }},
		// chown clears the set-user-ID bit, even to the same owner, even
		// for root: stripping it from setuid binaries is the attack.
		{op: "chown", steps: []string{"fchown"},
			prep:    func(t *testing.T, p string) { chmod(t, p, os.ModeSetuid|0o755) },
			changed: func(t *testing.T, p string) bool { return modeOf(t, p)&os.ModeSetuid == 0 }},
		{op: "futimens", steps: []string{"futimens", "utimensat-null"},
			prep: func(t *testing.T, p string) {
				if err := os.Chtimes(p, time.Now(), time.Now()); err != nil {
					t.Fatal(err)
				}
			},
			changed: func(t *testing.T, p string) bool {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				return st.ModTime().Unix() == 1000000000
			}},
		{op: "setxattr", steps: []string{"fsetxattr", "fremovexattr"},
			prep:    func(t *testing.T, p string) {},
			changed: func(t *testing.T, p string) bool { return false }},
	}
	f := newFdFixture(t)
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			for _, tc := range f.modes() {
				c.prep(t, tc.file)
				steps, o := f.fdops(t, tc.confined, nil, c.op, tc.file)
				if c.op == "setxattr" && !tc.confined && steps["fsetxattr"] == "EOPNOTSUPP" {
					t.Skipf("%s has no user xattrs", f.root)
				}
				want := map[string]string{"open": "ok"}
				for _, s := range c.steps {
					want[s] = "ok"
					if !tc.works {
						want[s] = "EPERM"
					}
				}
				wantSteps(t, tc.name, steps, want, o)
				if c.op != "setxattr" {
					if got := c.changed(t, tc.file); got != tc.works {
						t.Errorf("%s: file changed: %v, want %v", tc.name, got, tc.works)
					}
				}
				if !tc.works {
					wantContains(t, tc.name+": stderr", o.stderr, "not capable")
				}
			}
		})
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

const (
	fsIocGetflags = 0x80086601 // _IOR('f', 1, long)
	fsIocSetflags = 0x40086602 // _IOW('f', 2, long)
	fsAppendFl    = 0x20
)

// flagsIoctl makes the FS_IOC_GETFLAGS or FS_IOC_SETFLAGS (lsattr, chattr)
// ioctl on p, opened read-only, from the test process itself.
func flagsIoctl(p string, req uintptr, attr *int32) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(attr))); e != 0 {
		return e
	}
	return nil
}

// setAppendFlag sets or clears FS_APPEND_FL (chattr +a/-a).
func setAppendFlag(p string, on bool) error {
	var attr int32
	if err := flagsIoctl(p, fsIocGetflags, &attr); err != nil {
		return err
	}
	if on {
		attr |= fsAppendFl
	} else {
		attr &^= fsAppendFl
	}
	return flagsIoctl(p, fsIocSetflags, &attr)
}

// appendFlag reports whether p has FS_APPEND_FL set.
func appendFlag(t *testing.T, p string) bool {
	t.Helper()
	var attr int32
	if err := flagsIoctl(p, fsIocGetflags, &attr); err != nil {
		t.Fatalf("FS_IOC_GETFLAGS %s: %v", p, err)
	}
	return attr&fsAppendFl != 0
}

// TestFdChattrPerObject: FS_IOC_SETFLAGS (chattr +a) through an O_RDONLY
// descriptor of a ro-granted file works plainly as root and is refused
// under capfd run; on the rw-granted file it works. The program keeps its
// capabilities (--keep-caps: +a needs CAP_LINUX_IMMUTABLE), so the refusal
// is capfd's and not the kernel's.
func TestFdChattrPerObject(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("chattr +a needs CAP_LINUX_IMMUTABLE")
	}
	f := newFdFixture(t)
	if err := setAppendFlag(f.d+"/f", true); err != nil {
		t.Skipf("%s: FS_IOC_SETFLAGS unsupported here: %v", f.root, err)
	}
	setAppendFlag(f.d+"/f", false)
	keep := []string{"--keep-caps"}
	for _, tc := range f.modes() {
		steps, o := f.fdops(t, tc.confined, keep, "chattr", "+a", tc.file)
		want := map[string]string{"open": "ok", "getflags": "ok", "setflags": "ok"}
		if !tc.works {
			want["setflags"] = "EPERM"
			wantContains(t, tc.name+": stderr", o.stderr, "not capable: setflags")
		}
		wantSteps(t, tc.name, steps, want, o)
		if got := appendFlag(t, tc.file); got != tc.works {
			t.Errorf("%s: append-only flag set: %v, want %v", tc.name, got, tc.works)
		}
		if err := setAppendFlag(tc.file, false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAppendOnlyStaysAppend: through append-only rights a file can be
// added to, never rewritten. Plainly, clearing O_APPEND with F_SETFL lets
// pwrite overwrite the first bytes, and ftruncate, fallocate(PUNCH_HOLE),
// pwritev2(RWF_NOAPPEND) and a shared mapping rewrite them with O_APPEND
// still set; under capfd run each is refused and the header survives,
// while F_SETFL that keeps O_APPEND still works.
func TestAppendOnlyStaysAppend(t *testing.T) {
	requireRun(t)
	t.Run("clear O_APPEND", func(t *testing.T) {
		for _, confined := range []bool{false, true} {
			f := newFdFixture(t)
			steps, o := f.fdops(t, confined, nil, "clearappend", f.a+"/log")
			got := readFile(t, f.a+"/log")
			if !confined {
				wantSteps(t, "plainly", steps, map[string]string{"open": "ok", "setfl": "ok", "pwrite": "ok"}, o)
				if !strings.HasPrefix(got, "XX") {
					t.Errorf("plainly: log %q, want it overwritten at 0", got)
				}
				continue
			}
			// pwrite still appends: Linux ignores the offset on O_APPEND.
			wantSteps(t, "confined", steps, map[string]string{"open": "ok", "setfl": "EPERM", "pwrite": "ok"}, o)
			if !strings.HasPrefix(got, "HEADER\n") {
				t.Errorf("confined: log %q, want the header intact", got)
			}
			wantContains(t, "stderr", o.stderr, "not capable: clear O_APPEND")
		}
	})
	t.Run("keep O_APPEND", func(t *testing.T) {
		f := newFdFixture(t)
		steps, o := f.fdops(t, true, nil, "keepappend", f.a+"/log")
		wantSteps(t, "confined", steps, map[string]string{"open": "ok", "getfl": "ok", "setfl": "ok", "nonblock": "true append true", "write": "ok"}, o)
		if got := readFile(t, f.a+"/log"); got != "HEADER\n+" {
			t.Errorf("log %q, want %q", got, "HEADER\n+")
		}
	})
	t.Run("rewrite with O_APPEND set", func(t *testing.T) {
		for _, confined := range []bool{false, true} {
			f := newFdFixture(t)
			steps, o := f.fdops(t, confined, nil, "overwrite", f.a+"/log")
			got := readFile(t, f.a+"/log")
			if !confined {
				wantSteps(t, "plainly", steps, map[string]string{"open": "ok", "ftruncate": "ok", "punch": "ok", "pwritev2-noappend": "ok", "mmap-shared": "ok", "fallocate-extend": "ok"}, o)
				if strings.HasPrefix(got, "HEADER") {
					t.Errorf("plainly: log %q, want it rewritten", got)
				}
				continue
			}
			wantSteps(t, "confined", steps, map[string]string{"open": "ok", "ftruncate": "EPERM", "punch": "EPERM", "pwritev2-noappend": "EPERM", "mmap-shared": "EACCES", "fallocate-extend": "ok"}, o)
			if !strings.HasPrefix(got, "HEADER\n") {
				t.Errorf("confined: log %q, want the header intact", got)
			}
		}
	})
	t.Run("rw file and memfd unaffected", func(t *testing.T) {
		f := newFdFixture(t)
		steps, o := f.fdops(t, true, nil, "overwrite", f.w+"/f")
		// The shared mapping and RWF_NOAPPEND are refused for every
		// file while an append-only grant exists (docs/run.md).
		wantSteps(t, "rw file", steps, map[string]string{"open": "ok", "ftruncate": "ok", "punch": "ok", "pwritev2-noappend": "EPERM", "mmap-shared": "EACCES"}, o)
		steps, o = f.fdops(t, true, nil, "memfd", "-")
		wantSteps(t, "memfd", steps, map[string]string{"memfd": "ok", "ftruncate": "ok", "punch": "ok"}, o)
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFdRightsFollowTheObject: with a read-only grant nested in a rw one
// (H=rw, H/a/secret=ro), an fchmod through a descriptor of the nested
// grant's file is refused, also after the program moved the nested grant
// (mv H/a H/b, allowed by H's rights), where the file's name no longer
// says which grant it is in; a file of H itself can be changed.
func TestFdRightsFollowTheObject(t *testing.T) {
	requireRun(t)
	root := t.TempDir()
	h := root + "/H"
	if err := os.MkdirAll(h+"/a/secret", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{h + "/a/secret/key", h + "/own"} {
		if err := os.WriteFile(p, []byte("key\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	grants := []string{"--grant", h + "=rw", "--grant", h + "/a/secret=ro", "--grant", bin.dir + "=rx"}
	script := "mv H/a H/b && " + bin.fdops + " chmod H/b/secret/key; " + bin.fdops + " chmod H/own"
	o := run(t, root, "sh", "-c", script)
	wantContains(t, "plainly", o.stdout, "fchmod ok\nopen ok\nfchmod ok")
	if got := modeOf(t, h+"/b/secret/key").Perm(); got != 0o600 {
		t.Fatalf("plainly: mode %o, want 600 (the attack must be real)", got)
	}
	os.Rename(h+"/b", h+"/a")
	chmod(t, h+"/a/secret/key", 0o644)
	chmod(t, h+"/own", 0o644)
	o = capfdRun(t, root, grants, "sh", "-c", script)
	wantContains(t, "confined", o.stdout, "fchmod EPERM\nopen ok\nfchmod ok")
	if got := modeOf(t, h+"/b/secret/key").Perm(); got != 0o644 {
		t.Errorf("confined: nested grant's file mode %o, want 644\n%+v", got, o)
	}
	if got := modeOf(t, h+"/own").Perm(); got != 0o600 {
		t.Errorf("confined: H/own mode %o, want 600\n%+v", got, o)
	}
}

// TestChmodByDescriptorName: GNU tar restores a directory's mode with
// fchmodat(AT_SYMLINK_NOFOLLOW), which glibc makes fchmodat2 or, on older
// kernels, an O_PATH open and chmod("/proc/self/fd/N"). Both are the
// change of the object the name reaches, decided by its rights: allowed
// in the rw grant (chmod), refused in the ro one, and refused for a
// descriptor of a file outside every grant (the program's stdout).
func TestChmodByDescriptorName(t *testing.T) {
	requireRun(t)
	f := newFdFixture(t)
	for _, op := range []string{"chmod-nofollow", "chmod-procfd"} {
		for _, m := range f.modes() {
			if err := os.Chmod(m.file, 0o644); err != nil {
				t.Fatal(err)
			}
			steps, o := f.fdops(t, m.confined, nil, op, m.file)
			step := "chmod"
			if op == "chmod-nofollow" {
				step = op
			}
			if got := steps[step] == "ok" && modeOf(t, m.file) == 0o600; got != m.works {
				t.Errorf("%s %s: changed=%v, want %v\n%+v", op, m.name, got, m.works, o)
			}
		}
	}
	// A descriptor the program inherited, of a file no grant names.
	out := filepath.Join(f.root, "outside.txt")
	for _, confined := range []bool{false, true} {
		if err := os.WriteFile(out, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(out, 0o644); err != nil {
			t.Fatal(err)
		}
		argv := []string{bin.fdops, "chmod-fdname", "1"}
		if confined {
			argv = append(append([]string{bin.capfd, "run", "-q"}, f.grants()...), append([]string{"--"}, argv...)...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		file, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = file
		cmd.Run()
		file.Close()
		if changed := modeOf(t, out) == 0o600; changed == confined {
			t.Errorf("chmod /proc/self/fd/1 of an outside file, confined=%v: changed=%v", confined, changed)
		}
	}
}

// TestRefusalsAreLogged: with no grant carrying the right, the filter used
// to refuse fchown in the kernel with no word (cp -a failed silently); the
// supervisor now answers it, refuses it on the object as surely, and says
// so. A chown to the owner the file has needs chmod, not chown
// (vfsops.Request.KeepsOwner): under rw, which has chmod, cp -a keeps its
// owners; under ro it is refused, and logged.
func TestRefusalsAreLogged(t *testing.T) {
	requireRun(t)
	f := newFdFixture(t)
	for _, tc := range []struct {
		rights string
		works  bool
	}{{"rw", true}, {"ro", false}} {
		o := capfdRun(t, f.root, []string{"--grant", f.d + "=" + tc.rights, "--grant", bin.dir + "=rx"}, bin.fdops, "chown", f.d+"/f")
		switch {
		case tc.works && !strings.Contains(o.stdout, "fchown ok"):
			t.Errorf("fchown to the file's own owner under %s: %+v", tc.rights, o)
		case !tc.works && !strings.Contains(o.stdout, "fchown EPERM"):
			t.Errorf("fchown under %s: %+v", tc.rights, o)
		case !tc.works && !strings.Contains(o.stderr, "not capable: chown "+f.d+"/f (needs chmod"):
			t.Errorf("the refusal under %s is not logged: %q", tc.rights, o.stderr)
		}
	}
}
