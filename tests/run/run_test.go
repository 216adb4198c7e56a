package run

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/capfd/capfd/broker/landlock"
)

func TestUnmodifiedPrograms(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	cases := []struct {
		name     string
		dir      string
		prog     []string
		stdout   string // must contain
		code     int
		noGrants bool
	}{
		{"cat absolute", f.root, []string{"cat", f.data + "/hello.txt"}, "hello", 0, false},
		{"cat relative to a granted cwd", f.data, []string{"cat", "hello.txt", "sub/inner.txt"}, "hello\ninner", 0, false},
		{"ls a granted dir", f.root, []string{"ls", f.data}, "hello.txt\nout-abs\nout-rel\nsub", 0, false},
		{"ls -l a granted dir", f.data, []string{"ls", "-l", "sub"}, "inner.txt", 0, false},
		{"sh with a pipeline", f.data, []string{"sh", "-c", "cat hello.txt | tr a-z A-Z"}, "HELLO", 0, false},
		{"sh writes in an rw grant", f.rw, []string{"sh", "-c", "echo made > made.txt && mkdir d && mv made.txt d/ && cat d/made.txt"}, "made", 0, false},
		// The shell stats its PATH entries (writes into its memory), then
		// the same thread execs ls, whose stat results must reach the new
		// address space.
		{"stat after exec in the same thread", f.data, []string{"sh", "-c", "ls -l . >/dev/null; exec ls -ln sub"}, "0 0 6", 0, false},
		{"exit status propagates", f.root, []string{"sh", "-c", "exit 7"}, "", 7, false},
		{"signal status propagates", f.root, []string{"sh", "-c", "kill -9 $$"}, "", 137, false},
		{"without grants cat gets nothing", f.root, []string{"cat", f.data + "/hello.txt"}, "", 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			flags := f.grants()
			if c.noGrants {
				flags = nil
			}
			o := capfdRun(t, c.dir, flags, c.prog...)
			if o.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", o.code, c.code, o.stdout, o.stderr)
			}
			wantContains(t, "stdout", o.stdout, c.stdout)
		})
	}
}

// TestEscapes runs each attack twice: plainly, where it must work (the
// attack is real), and under capfd run in each mode, where it must fail
// and be logged (or, where the kernel refuses it in kernel mode, be
// refused as the kernel says).
func TestEscapes(t *testing.T) {
	requireRun(t)
	cases := []escapeCase{
		{"absolute path", []string{"cat", "{S}/s.txt"}, "secret", "", "not capable: open {S}/s.txt (needs read, outside every grant; --grant {S}/s.txt=ro would allow it)", "No such file or directory"},
		{"dot-dot out of a grant", []string{"cat", "{D}/../secret/s.txt"}, "secret", "", "outside every grant", "No such file or directory"},
		{"relative dot-dot from the cwd", []string{"cat", "../secret/s.txt"}, "secret", "", "outside every grant", "No such file or directory"},
		{"absolute symlink planted in a grant", []string{"cat", "{D}/out-abs"}, "secret", "", "outside every grant", "No such file or directory"},
		{"relative symlink planted in a grant", []string{"cat", "{D}/out-rel"}, "secret", "", "outside every grant", "No such file or directory"},
		{"symlink planted by the program", []string{"sh", "-c", "ln -s {S}/s.txt {R}/l && cat {R}/l"}, "secret", "", "outside every grant", "No such file or directory"},
		{"/proc/self/root", []string{"cat", "/proc/self/root{S}/s.txt"}, "secret", "", "outside every grant", "No such file or directory"},
		{"/proc/self/fd reopen for write", []string{"sh", "-c", "exec 3<{D}/hello.txt; echo pwned >/proc/self/fd/3"}, "", "{D}/hello.txt", "/proc/self/fd/3", ""},
		{"write through a read-only grant", []string{"sh", "-c", "echo pwned > {D}/hello.txt"}, "", "{D}/hello.txt", "needs write", ""},
		{"append through a read-only grant", []string{"sh", "-c", "echo pwned >> {D}/hello.txt"}, "", "{D}/hello.txt", "needs append", ""},
		{"remove in a read-only grant", []string{"rm", "{D}/sub/inner.txt"}, "", "{D}/sub/inner.txt", "needs unlink", ""},
		{"forked child", []string{"sh", "-c", "cat {S}/s.txt & wait"}, "secret", "", "outside every grant", "No such file or directory"},
		{"grandchild of a subshell", []string{"sh", "-c", "(sh -c 'cat {S}/s.txt') | cat"}, "secret", "", "outside every grant", "No such file or directory"},
		{"cd out, then relative", []string{"sh", "-c", "cd {S} && cat s.txt"}, "secret", "", "outside every grant", "can't cd"},
		{"write /proc/self/exe", []string{"sh", "-c", "echo x >> /proc/self/exe"}, "", "", "/proc/self/exe", ""},
	}
	for _, c := range cases {
		for _, mode := range []string{"brokered", "kernel"} {
			t.Run(mode+"/"+c.name, func(t *testing.T) { escape(t, mode, c) })
		}
	}
}

// escapeCase is one TestEscapes attack; {D}, {R}, {S} in its strings
// stand for the data, rw and secret directories.
type escapeCase struct {
	name string
	prog []string
	// leaked is what a successful attack prints (or writes, see
	// changed); log must appear in capfd's stderr when it fails.
	leaked  string
	changed string // a file the attack modifies, "" if none
	log     string
	// kernel is what the program says when the kernel refuses the
	// attack in kernel mode, where there is no report of it ("" when the
	// supervisor refuses it there too, and log applies).
	kernel string
}

// escape runs c unconfined, where it must work, and confined in mode,
// where it must fail saying log (kernel, when set, in kernel mode).
func escape(t *testing.T, mode string, c escapeCase) {
	f := newFixture(t)
	expand := func(s string) string {
		return strings.NewReplacer("{D}", f.data, "{R}", f.rw, "{S}", f.secret).Replace(s)
	}
	prog := make([]string, len(c.prog))
	for i, a := range c.prog {
		prog[i] = expand(a)
	}
	changed := expand(c.changed)

	if c.name != "write /proc/self/exe" { // it would corrupt /bin/sh (ETXTBSY protects it, still: no)
		plainFixture := newFixture(t)
		plainProg := make([]string, len(prog))
		for i, a := range prog {
			plainProg[i] = strings.ReplaceAll(a, f.root, plainFixture.root)
		}
		plain := run(t, plainFixture.data, plainProg...)
		if c.leaked != "" && !strings.Contains(plain.stdout, c.leaked) {
			t.Fatalf("the attack does not work even without capfd: %+v", plain)
		}
		if c.changed != "" {
			name := strings.ReplaceAll(changed, f.root, plainFixture.root)
			if b, err := os.ReadFile(name); err == nil && b != nil && string(b) == f.read(t, changed) {
				t.Fatalf("the attack did not change %s even without capfd: %+v", name, plain)
			}
		}
	}

	before := ""
	if changed != "" {
		before = f.read(t, changed)
	}
	o := capfdRun(t, f.data, append([]string{"--mode", mode}, f.grants()...), prog...)
	if c.leaked != "" && strings.Contains(o.stdout, c.leaked) {
		t.Errorf("leaked under capfd run: %q", o.stdout)
	}
	if changed != "" {
		if after, err := os.ReadFile(changed); err != nil || string(after) != before {
			t.Errorf("%s changed under capfd run: %q, %v", changed, after, err)
		}
	}
	want := c.log
	if mode == "kernel" && c.kernel != "" {
		want = c.kernel
	}
	wantContains(t, "capfd log", o.stderr, expand(want))
}

// Exec is authorized by Landlock in the kernel: a program outside every
// exec grant does not start, even though the supervisor never sees execve.
func TestExecOutsideGrants(t *testing.T) {
	requireRun(t)
	if _, err := landlock.Probe(); err != nil {
		t.Skipf("Landlock unavailable: %v", err)
	}
	f := newFixture(t)
	mine := copyCommand(t, "cat", filepath.Join(f.rw, "mycat"))
	if o := run(t, f.root, mine, f.data+"/hello.txt"); o.code != 0 || o.stdout != "hello\n" {
		t.Fatalf("the copied cat does not work even without capfd: %+v", o)
	}
	// rw has no exec right: neither as the program nor from a shell.
	o := capfdRun(t, f.root, f.grants(), mine, f.data+"/hello.txt")
	if o.code == 0 || strings.Contains(o.stdout, "hello") {
		t.Errorf("exec of %s (no exec right) ran: %+v", mine, o)
	}
	o = capfdRun(t, f.root, f.grants(), "sh", "-c", mine+" "+f.data+"/hello.txt")
	if o.code == 0 || strings.Contains(o.stdout, "hello") {
		t.Errorf("exec of %s from a shell (no exec right) ran: %+v", mine, o)
	}
	// With the exec right it runs.
	o = capfdRun(t, f.root, []string{"--grant", f.data + "=ro", "--grant", f.rw + "=rx"}, mine, f.data+"/hello.txt")
	if o.code != 0 || o.stdout != "hello\n" {
		t.Errorf("exec with the exec right: %+v", o)
	}
}

func TestNoDefaultProfile(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	// A dynamically linked cat cannot even load libc without the profile.
	o := capfdRun(t, f.root, append(f.grants(), "--no-default-profile"), "cat", f.data+"/hello.txt")
	if o.code == 0 {
		t.Fatalf("cat ran without the default profile: %+v", o)
	}
	// The static openloop helper needs nothing but its own directory
	// (exec) and the file.
	o = capfdRun(t, f.root, []string{"--no-default-profile", "--grant", bin.dir + "=rx", "--grant", f.data + "=ro"}, bin.openloop, f.data+"/hello.txt", "10")
	if o.code != 0 {
		t.Fatalf("static program under --no-default-profile: %+v", o)
	}
}

func TestConfigFile(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	cfg := filepath.Join(f.root, "grants.conf")
	if err := os.WriteFile(cfg, []byte("# the demo data\ndata=ro\n\nrw=rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := capfdRun(t, "/", []string{"--config", cfg}, "sh", "-c", "cat "+f.data+"/hello.txt > "+f.rw+"/copy && cat "+f.rw+"/copy")
	if o.code != 0 || o.stdout != "hello\n" {
		t.Fatalf("grants from a config file: %+v", o)
	}
	o = capfdRun(t, "/", []string{"--grant", "nonsense"}, "true")
	if o.code != 2 || !strings.Contains(o.stderr, "PATH=RIGHTS") {
		t.Errorf("a bad --grant: %+v", o)
	}
}

// A capability-aware program finds the embedded broker on CAPFD_BROKER_FD
// and reads through it.
func TestEmbeddedBroker(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	o := capfdRun(t, f.root, append(f.grants(), "--grant", bin.dir+"=rx"), bin.capaware, "hello.txt")
	if o.code != 0 || o.stdout != "hello\n" {
		t.Fatalf("capability-aware program: %+v", o)
	}
}

// The program runs without capabilities: raising its priority (which needs
// CAP_SYS_NICE) works for root plainly, and with --keep-caps, but not by
// default under capfd run.
func TestCapabilitiesDropped(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a privileged program shows the difference")
	}
	f := newFixture(t)
	prog := []string{"nice", "-n", "-5", "nice"}
	if o := run(t, f.root, prog...); strings.TrimSpace(o.stdout) != "-5" {
		t.Fatalf("nice -n -5 does not work even plainly: %+v", o)
	}
	if o := capfdRun(t, f.root, []string{"--keep-caps"}, prog...); strings.TrimSpace(o.stdout) != "-5" {
		t.Errorf("with --keep-caps: %+v", o)
	}
	o := capfdRun(t, f.root, nil, prog...)
	if strings.TrimSpace(o.stdout) == "-5" {
		t.Errorf("the program kept CAP_SYS_NICE under capfd run: %+v", o)
	}
}

// An unprivileged user can use capfd run too: the supervisor needs no
// privilege over its own children, and there are no capabilities to drop.
func TestUnprivileged(t *testing.T) {
	requireRun(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	f := newFixture(t)
	allowUnprivileged(t, f.root)
	argv := append([]string{bin.capfd, "run"}, f.grants()...)
	argv = append(argv, "--", "sh", "-c", "cat "+f.data+"/hello.txt; cat "+f.secret+"/s.txt")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = f.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "hello") || strings.Contains(string(out), "secret\n") ||
		!strings.Contains(string(out), f.secret+"/s.txt: No such file or directory") {
		t.Fatalf("as uid 65534: %s", out)
	}
	// The brokered mode reports the refusal.
	argv = append([]string{bin.capfd, "run", "--mode", "brokered"}, argv[2:]...)
	cmd = exec.Command(argv[0], argv[1:]...)
	cmd.Dir = f.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "hello") || strings.Contains(string(out), "secret\n") ||
		!strings.Contains(string(out), "not capable: open "+f.secret+"/s.txt") {
		t.Fatalf("as uid 65534, brokered: %s", out)
	}
}

// SIGTERM and SIGHUP sent to capfd run reach the program, and so do SIGINT
// and SIGQUIT (the terminal's ^C and ^\ reach only capfd run: the program
// has a session of its own); its death by the signal is capfd run's exit
// status.
func TestSignalsForwarded(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT} {
		cmd := exec.Command(bin.capfd, "run", "--", "sh", "-c", "echo started; exec sleep 30")
		cmd.Dir = f.root
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if n, _ := out.Read(buf); string(buf[:n]) != "started\n" {
			t.Fatalf("program did not start: %q", buf[:n])
		}
		cmd.Process.Signal(sig)
		err = cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 128+int(sig) {
			t.Errorf("capfd run after %v: %v, want exit status %d", sig, err, 128+int(sig))
		}
	}
}
