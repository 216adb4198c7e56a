package childtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const caseEnv = "CHILDTEST_CASE"

// TestChildCase is the test the children below run; what it does is
// named in caseEnv.
func TestChildCase(t *testing.T) {
	switch os.Getenv(caseEnv) {
	case "":
		t.Skip("run by TestChild")
	case "pass":
		t.Log("child ran")
	case "skip":
		t.Skip("child skips")
	case "skip-subtest":
		t.Run("sub", func(t *testing.T) { t.Skip("subtest skips") })
	case "fail":
		t.Error("child fails")
	case "exit":
		fmt.Println("child exits 5")
		os.Exit(5)
	case "where":
		// Prints its working directory and what descriptor 3 holds.
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(os.NewFile(3, "extra"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("wd=%s fd3=%s\n", wd, data)
	}
}

// fatalRecorder is a testing.TB whose Fatalf and Skipf record the message
// and end the goroutine, so a test can check that a helper gives up.
type fatalRecorder struct {
	testing.TB
	fatal, skip string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// recording runs fn with a fatalRecorder in a goroutine of its own.
func recording(t *testing.T, fn func(tb testing.TB)) *fatalRecorder {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func TestChild(t *testing.T) {
	if os.Getenv(caseEnv) != "" {
		t.Skip("child process")
	}
	child := func(c string) Child { return Child{Test: "TestChildCase", Env: []string{caseEnv + "=" + c}} }

	out := child("pass").Pass(t)
	if !strings.Contains(out, "child ran") {
		t.Errorf("Pass output lacks the child's log:\n%s", out)
	}
	for _, c := range []struct{ name, want string }{
		{"skip", "skipped"},
		{"skip-subtest", "skipped"},
		{"fail", "exit 1"},
		{"exit", "exit 5"},
		{"", "skipped"}, // the child's test does not know it is the child
	} {
		r := recording(t, func(tb testing.TB) { child(c.name).Pass(tb) })
		if !strings.Contains(r.fatal, c.want) {
			t.Errorf("Pass of a child that does %q: fatal %q, want it to say %q", c.name, r.fatal, c.want)
		}
	}
	r := recording(t, func(tb testing.TB) { Child{Test: "TestNoSuchTest"}.Pass(tb) })
	if !strings.Contains(r.fatal, "did not run its test") {
		t.Errorf("Pass of a test that does not exist: fatal %q, want \"did not run its test\"", r.fatal)
	}

	if out, code := child("exit").Output(t); code != 5 || strings.TrimSpace(out) != "child exits 5" {
		t.Errorf("Output = %q, %d; want the child's line and exit 5", out, code)
	}
	r = recording(t, func(tb testing.TB) {
		Child{Test: "TestChildCase", Wrapper: []string{"/nonexistent/wrapper"}}.Output(tb)
	})
	if r.fatal == "" || r.skip != "" {
		t.Errorf("a child that cannot start: fatal %q, skip %q; want a failure", r.fatal, r.skip)
	}

	// Exe, Dir and ExtraFiles reach the child: a copy of the binary, run
	// elsewhere, reads the file it was given as descriptor 3.
	dir := t.TempDir()
	exe := filepath.Join(dir, "copy.test")
	if out, err := exec.Command("cp", os.Args[0], exe).CombinedOutput(); err != nil {
		t.Fatalf("copying the test binary: %v\n%s", err, out)
	}
	extra := filepath.Join(dir, "extra")
	if err := os.WriteFile(extra, []byte("given"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(extra)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out = Child{Test: "TestChildCase", Env: []string{caseEnv + "=where"}, Exe: exe, Dir: "/", ExtraFiles: []*os.File{f}}.Pass(t)
	if !strings.Contains(out, "wd=/ fd3=given\n") {
		t.Errorf("child with Exe, Dir and ExtraFiles:\n%s", out)
	}
	r = recording(t, func(tb testing.TB) { Child{Test: "TestChildCase", Exe: filepath.Join(dir, "missing")}.Pass(tb) })
	if !strings.Contains(r.fatal, "no such file") {
		t.Errorf("a child whose Exe does not exist: fatal %q, want it to say \"no such file\"", r.fatal)
	}
}
