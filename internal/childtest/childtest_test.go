package childtest

import (
	"fmt"
	"os"
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
}
