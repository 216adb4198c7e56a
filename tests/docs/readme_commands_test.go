package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeCommandsRun runs the README's "Using it" command block as
// written, from the repository's root: the build line, then each capfd
// line that needs no second shell (the broker's are run by
// tests/broker's TestReadmeBrokerExample). A command may fail as its
// comment says (cat /etc/shadow is refused), but never for want of the
// binary or the launch itself (126, 127, "Is a directory").
func TestReadmeCommandsRun(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "## Using it\n\n```sh\n")
	if !ok {
		t.Fatal("README.md has no \"## Using it\" sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var lines []string
	for line := range strings.Lines(block) {
		cmd, _, _ := strings.Cut(line, "#")
		if cmd = strings.TrimSpace(cmd); cmd != "" {
			lines = append(lines, cmd)
		}
	}
	build := strings.Fields(lines[0])
	if len(build) < 4 || build[0] != "go" || build[1] != "build" || build[2] != "-o" {
		t.Fatalf("the block does not start with go build -o BINARY: %q", lines[0])
	}
	bin := build[3]
	if st, err := os.Stat(filepath.Join("../..", bin)); err == nil && st.IsDir() {
		t.Fatalf("the README builds into %s, a directory of the repository: the binary would land inside it", bin)
	}
	root, _ := filepath.Abs("../..")
	sh := func(line string) (string, int) {
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PATH=/usr/local/go/bin:"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return string(out), code
	}
	if out, code := sh(lines[0]); code != 0 {
		t.Fatalf("%s: exit %d\n%s", lines[0], code, out)
	}
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, bin+" ") {
			if !strings.Contains(line, bin+" ") {
				t.Errorf("%q does not run %s", line, bin)
			}
			continue // source <(...): a shell's, not sh's
		}
		if verb := strings.Fields(line)[1]; verb == "broker" && strings.Contains(line, "--config ") || verb == "ls" {
			continue // TestReadmeBrokerExample
		}
		if strings.Contains(line, " run ") && os.Geteuid() != 0 {
			continue // the run lines are checked where the tests run as root (CI)
		}
		out, code := sh(line)
		if code == 126 || code == 127 || strings.Contains(out, "Is a directory") || strings.Contains(out, "not found") {
			t.Errorf("%s: exit %d\n%s", line, code, out)
		}
	}
}
