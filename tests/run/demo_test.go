package run

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's demo: examples/demo/run.sh must show the granted read
// working and the refusals with their reasons.
func TestDemoScript(t *testing.T) {
	requireRun(t)
	script, err := filepath.Abs("../../examples/demo/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script)
	cmd.Env = append(cmd.Environ(), "CAPFD="+bin.capfd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	for _, want := range []string{
		"hello from a capability-confined cat\n(exit status 0)",
		"notes:\ntodo.txt",
		// The failure first, then the refusals it followed.
		// In kernel mode the kernel's ENOENT, and where to see more.
		"cat: /etc/shadow: No such file or directory\n" +
			"capfd run: cat exited with status 1\n" +
			"capfd run: in kernel mode the kernel answers lookups, stats and read-only opens itself, and what it refuses is not listed; --mode brokered lists every refusal",
		"cat: /etc/shadow: No such file or directory\n" +
			"capfd run: cat exited with status 1; the last refusals before it:\n" +
			"capfd: not capable: open /etc/shadow (needs read, outside every grant; --grant /etc/shadow=ro would allow it)",
		"examples/demo/data/hello.txt (needs write,truncate,create",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
