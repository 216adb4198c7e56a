package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The supervisor acts as the program, not as itself: every operation it
// performs for the program is checked by the kernel against the calling
// thread's credentials (fsuid, fsgid, groups, effective capabilities). The
// reference is the kernel's own answer to the same command run directly:
// grants may narrow it, never widen it.

// credsScript probes a directory: a world-readable file (the positive
// control), then reading, appending to and deleting a 0600 file owned by
// someone else, then creating a file. Each step prints a marker when it
// succeeds.
func credsScript(dir string) string {
	return strings.Join([]string{
		"cat " + dir + "/public && echo PUBLIC-OK",
		"cat " + dir + "/secret && echo READ-OK",
		"echo x >> " + dir + "/secret && echo APPEND-OK",
		"rm -f " + dir + "/secret && echo DELETE-OK",
		"echo new > " + dir + "/created && echo CREATE-OK",
		"true",
	}, "; ")
}

// credsDir makes dir world-searchable (its parents too, up to the test's
// temporary root) and sticky-writable: anyone may create in it, only a
// file's owner may delete it, as in /tmp. It holds "public" (0644) and
// "secret" (0600), both owned by owner, and no "created".
func credsDir(t *testing.T, f fixture, dir string, owner int) {
	t.Helper()
	for _, d := range []string{filepath.Dir(f.root), f.root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	os.Remove(dir + "/created")
	for name, mode := range map[string]os.FileMode{"public": 0o644, "secret": 0o600} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name+" content\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
}

// markers returns the success markers a credsScript run printed, in order.
func markers(o outcome) string {
	var m []string
	for _, line := range strings.Split(o.stdout, "\n") {
		if strings.HasSuffix(line, "-OK") {
			m = append(m, line)
		}
	}
	return strings.Join(m, " ")
}

// checkCredsOutcome checks what a credsScript run by uid 65534 did to dir:
// the public file read, the secret one neither read, appended to nor
// deleted, and the created file owned by 65534.
func checkCredsOutcome(t *testing.T, what, dir string, o outcome) {
	t.Helper()
	if got, want := markers(o), "PUBLIC-OK CREATE-OK"; got != want {
		t.Errorf("%s: succeeded: %q, want %q\n%+v", what, got, want, o)
	}
	if strings.Contains(o.stdout, "secret content") {
		t.Errorf("%s: read the secret: %+v", what, o)
	}
	if b, err := os.ReadFile(dir + "/secret"); err != nil || string(b) != "secret content\n" {
		t.Errorf("%s: the secret was changed or deleted: %q, %v", what, b, err)
	}
	st, err := os.Stat(dir + "/created")
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 65534 || s.Gid != 65534 {
		t.Errorf("%s: created file owned by %d:%d, want 65534:65534", what, s.Uid, s.Gid)
	}
}

func requireRootAndSetpriv(t *testing.T) string {
	t.Helper()
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the differences are between root and other credentials")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is needed to change credentials")
	}
	return setpriv
}

// A program that drops from root to uid 65534 (it keeps the capabilities
// to do so: --keep-caps) is then checked as 65534 by the kernel for every
// file the supervisor opens, deletes or creates for it: it cannot read,
// append to or delete root's 0600 file in an rw grant, and what it creates
// is owned by 65534, exactly as when the same command runs directly. The
// positive controls: the world-readable file is read and the create works
// both ways, and root itself (no setpriv) reads the secret under capfd
// run, so it is the credentials that refuse it, not the grant.
//
// Before the supervisor acted as the program, the confined run read,
// appended to and deleted the secret, and created root-owned files.
func TestCredsProgramChangesUid(t *testing.T) {
	setpriv := requireRootAndSetpriv(t)
	f := newFixture(t)
	credsDir(t, f, f.rw, 0)
	drop := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", "sh", "-c", credsScript(f.rw)}

	direct := run(t, f.root, drop...)
	checkCredsOutcome(t, "directly", f.rw, direct)

	credsDir(t, f, f.rw, 0)
	confined := capfdRun(t, f.root, []string{"--keep-caps", "--grant", f.rw + "=rw"}, drop...)
	checkCredsOutcome(t, "under capfd run", f.rw, confined)
	if markers(confined) != markers(direct) {
		t.Errorf("capfd run differs from the direct run: %q vs %q", markers(confined), markers(direct))
	}

	// Positive control: the grant itself allows all of it.
	credsDir(t, f, f.rw, 0)
	root := capfdRun(t, f.root, []string{"--keep-caps", "--grant", f.rw + "=rw"}, "sh", "-c", credsScript(f.rw))
	if got, want := markers(root), "PUBLIC-OK READ-OK APPEND-OK DELETE-OK CREATE-OK"; got != want {
		t.Errorf("root under capfd run: succeeded %q, want %q\n%+v", got, want, root)
	}
	if st, err := os.Stat(f.rw + "/created"); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("root's created file: %v, %v", st, err)
	}
}

// A root program without capabilities (capfd run's default) cannot read a
// 0600 file another uid owns, in a grant that allows reading: the kernel
// refuses root without CAP_DAC_OVERRIDE directly too (setpriv empties the
// bounding set, so the exec'd cat has no capabilities). With its
// capabilities (directly, or capfd run --keep-caps) root reads it, and the
// world-readable file is read in every case.
//
// Before, the supervisor's own CAP_DAC_OVERRIDE read the file for the
// capability-less program.
func TestCredsRootWithoutCapabilities(t *testing.T) {
	setpriv := requireRootAndSetpriv(t)
	f := newFixture(t)
	credsDir(t, f, f.data, 12345)
	grants := []string{"--grant", f.data + "=ro"}
	readBoth := []string{"sh", "-c", "cat " + f.data + "/public && echo PUBLIC-OK; cat " + f.data + "/secret && echo READ-OK; true"}
	noCaps := append([]string{setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"}, readBoth...)

	cases := []struct {
		what string
		o    outcome
		want string
	}{
		{"root directly", run(t, f.root, readBoth...), "PUBLIC-OK READ-OK"},
		{"root without capabilities directly", run(t, f.root, noCaps...), "PUBLIC-OK"},
		{"capfd run (capabilities dropped)", capfdRun(t, f.root, grants, readBoth...), "PUBLIC-OK"},
		{"capfd run --keep-caps", capfdRun(t, f.root, append([]string{"--keep-caps"}, grants...), readBoth...), "PUBLIC-OK READ-OK"},
	}
	for _, c := range cases {
		if got := markers(c.o); got != c.want {
			t.Errorf("%s: succeeded %q, want %q\n%+v", c.what, got, c.want, c.o)
		}
		if leaked := strings.Contains(c.o.stdout, "secret content"); leaked != strings.Contains(c.want, "READ-OK") {
			t.Errorf("%s: secret read: %v\n%+v", c.what, leaked, c.o)
		}
	}
}

// An unprivileged launcher (uid 65534) has no credentials to switch to or
// from: its program, in a user namespace of its own, reads, appends to,
// deletes and creates its own files in an rw grant (creates owned by
// 65534), reads root's world-readable file there, and cannot read root's
// 0600 file, as directly.
func TestCredsUnprivilegedLauncher(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	f := newFixture(t)
	if err := os.Chmod(bin.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(f.rw, "own")
	roots := filepath.Join(f.rw, "roots")
	credsDir(t, f, own, 65534)
	credsDir(t, f, roots, 0)
	script := credsScript(own) + "; cat " + roots + "/public && echo ROOT-PUBLIC-OK; cat " + roots + "/secret && echo ROOT-SECRET-OK; true"
	as65534 := func(argv ...string) outcome {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = f.root
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return runCmd(t, cmd)
	}
	want := "PUBLIC-OK READ-OK APPEND-OK DELETE-OK CREATE-OK ROOT-PUBLIC-OK"
	check := func(what string, o outcome) {
		t.Helper()
		if got := markers(o); got != want {
			t.Errorf("%s: succeeded %q, want %q\n%+v", what, got, want, o)
		}
		if _, err := os.Stat(own + "/secret"); err == nil {
			t.Errorf("%s: its own file was not deleted", what)
		}
		if b, err := os.ReadFile(roots + "/secret"); err != nil || string(b) != "secret content\n" {
			t.Errorf("%s: root's secret: %q, %v", what, b, err)
		}
		st, err := os.Stat(own + "/created")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if s := st.Sys().(*syscall.Stat_t); s.Uid != 65534 || s.Gid != 65534 {
			t.Errorf("%s: created file owned by %d:%d, want 65534:65534", what, s.Uid, s.Gid)
		}
	}
	check("directly as 65534", as65534("sh", "-c", script))
	credsDir(t, f, own, 65534)
	check("capfd run as 65534", as65534(bin.capfd, "run", "--grant", f.rw+"=rw", "--", "sh", "-c", script))
	credsDir(t, f, own, 65534)
	check("capfd run --keep-caps as 65534", as65534(bin.capfd, "run", "--keep-caps", "--grant", f.rw+"=rw", "--", "sh", "-c", script))
}

// access(2) checks with the real uid and gid, faccessat(AT_EACCESS) with
// the effective ones, under capfd run as directly. A program that is root
// by its real uid only (setpriv --euid=65534: its capabilities permitted,
// not effective) may read another user's 0600 file by access(2) but not
// by AT_EACCESS; one that is root by its effective uid only (--ruid) the
// other way round.
func TestCredsAccessRealAndEffective(t *testing.T) {
	setpriv := requireRootAndSetpriv(t)
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("needs " + python + " (os.access with and without effective_ids)")
	}
	f := newFixture(t)
	credsDir(t, f, f.data, 12345)
	probe := "import os; p = '" + f.data + "/secret'; print(os.access(p, os.R_OK), os.access(p, os.R_OK, effective_ids=True))"
	grants := []string{"-q", "--keep-caps", "--grant", f.data + "=ro"}
	for _, c := range []struct {
		ids  string
		want string
	}{
		{"--euid=65534", "True False"},
		{"--ruid=65534", "False True"},
	} {
		argv := []string{setpriv, c.ids, "--", python, "-c", probe}
		direct := run(t, f.root, argv...)
		confined := capfdRun(t, f.root, grants, argv...)
		if got := strings.TrimSpace(direct.stdout); got != c.want {
			t.Errorf("setpriv %s directly: %q, want %q (%+v)", c.ids, got, c.want, direct)
		}
		if got := strings.TrimSpace(confined.stdout); got != c.want {
			t.Errorf("setpriv %s under capfd run: %q, want %q (%+v)", c.ids, got, c.want, confined)
		}
	}
}
