package run

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// passwdUser is a user /etc/passwd names other than root and nobody (whom
// nss_systemd names without the file), or skips.
func passwdUser(t *testing.T) (name string, uid int) {
	t.Helper()
	f, err := os.Open("/etc/passwd")
	if err != nil {
		t.Skipf("no /etc/passwd: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if uid, err := strconv.Atoi(fields[2]); err == nil && uid != 0 && uid != 65534 {
			return fields[0], uid
		}
	}
	t.Skip("/etc/passwd names no user but root and nobody")
	return "", 0
}

// TestProfilePasswd: the default profile's /etc/passwd is what lets ls -l
// name a file's owner; taken away (--grant /etc/passwd=none, the user's
// grant decides alone), ls prints the number.
func TestProfilePasswd(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	user, uid := passwdUser(t)
	file := f.data + "/hello.txt"
	if err := os.Chown(file, uid, -1); err != nil {
		t.Skipf("chown %s to %s (needs root): %v", file, user, err)
	}
	o := capfdRun(t, f.root, f.grants(), "ls", "-l", file)
	if o.code != 0 || len(strings.Fields(o.stdout)) < 3 || strings.Fields(o.stdout)[2] != user {
		t.Fatalf("ls -l with the default profile: want owner %s: %+v", user, o)
	}
	o = capfdRun(t, f.root, append(f.grants(), "--grant", "/etc/passwd=none"), "ls", "-l", file)
	if o.code != 0 || len(strings.Fields(o.stdout)) < 3 || strings.Fields(o.stdout)[2] != strconv.Itoa(uid) {
		t.Fatalf("ls -l without /etc/passwd: want owner %d: %+v", uid, o)
	}
	if !strings.Contains(o.stderr, "open /etc/passwd (needs read, grant /etc/passwd has none)") {
		t.Errorf("the refusal of /etc/passwd is not logged: %q", o.stderr)
	}
}

// TestProfileDev: cc compiles a hello world that runs, with --profile dev
// (which grants /usr/local/include and the rest of a toolchain's
// search path) and with the default profile alone, where those directories
// are outside the view and look absent, as cc1 expects of a missing one
// (it took the EACCES they answered before as an error).
func TestProfileDev(t *testing.T) {
	requireRun(t)
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no cc on PATH (scripts/setup.sh installs one): the dev profile is tested by compiling with it")
	}
	f := newFixture(t)
	tmp := mkdir(t, filepath.Join(f.rw, "tmp"))
	src := filepath.Join(f.rw, "hello.c")
	if err := os.WriteFile(src, []byte("#include <stdio.h>\nint main(void) { puts(\"hello from cc\"); return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(f.rw, "hello")
	flags := append(f.grants(), "-q", "--env", "TMPDIR="+tmp)
	for _, extra := range [][]string{nil, {"--profile", "dev"}} {
		os.Remove(exe)
		if o := capfdRun(t, f.rw, append(flags, extra...), "cc", "-o", exe, src); o.code != 0 {
			t.Fatalf("cc %v: %+v", extra, o)
		}
		if o := run(t, f.rw, exe); o.code != 0 || o.stdout != "hello from cc\n" {
			t.Fatalf("the program cc %v built: %+v", extra, o)
		}
	}
}

// TestProfilePosixShm: a POSIX semaphore (python's multiprocessing.Lock,
// sem_open in /dev/shm) needs --profile posix-shm, never granted by
// default.
func TestProfilePosixShm(t *testing.T) {
	requireRun(t)
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s: %v", python, err)
	}
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		t.Skipf("/dev/shm: %v", err)
	}
	f := newFixture(t)
	prog := []string{python, "-c", "import multiprocessing as m; m.Lock(); print('locked')"}
	if o := capfdRun(t, f.root, append(f.grants(), "-q"), prog...); o.code == 0 {
		t.Fatalf("sem_open without --profile posix-shm: %+v", o)
	}
	if o := capfdRun(t, f.root, append(f.grants(), "-q", "--profile", "posix-shm"), prog...); o.code != 0 || o.stdout != "locked\n" {
		t.Fatalf("sem_open with --profile posix-shm: %+v", o)
	}
}

// TestProfileUnknown: an unknown profile is a usage error naming the known
// ones, before anything runs.
func TestProfileUnknown(t *testing.T) {
	requireRun(t)
	o := capfdRun(t, t.TempDir(), []string{"--profile", "nope"}, "true")
	if o.code != 2 || !strings.Contains(o.stderr, `unknown profile "nope" (known: dev, python`) {
		t.Fatalf("--profile nope: %+v", o)
	}
}
