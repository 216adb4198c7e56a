package enforce

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// asyncTimeout bounds every testwait.Until in this package: denials
// reach user space through a ring buffer, asynchronously, and TCG is
// slow.
const asyncTimeout = 10 * time.Second

const grantedContent = "granted content\n"

// child is a re-executed test binary in some role (see helper_test.go).
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0])}
	c.cmd.Env = append(os.Environ(), append([]string{envRole + "=" + role}, env...)...)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	return c
}

// next reads the child's next step.
func (c *child) next(t *testing.T) step {
	t.Helper()
	line, err := c.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("child %d: reading its report: %v (stderr: %s)", c.cmd.Process.Pid, err, c.stderr.String())
	}
	var s step
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		t.Fatalf("child %d: bad line %q: %v", c.cmd.Process.Pid, line, err)
	}
	return s
}

// expect reads the child's next step and checks it is name with errno
// want (0: success).
func (c *child) expect(t *testing.T, name string, want int) {
	t.Helper()
	s := c.next(t)
	if s.Name != name {
		t.Fatalf("child %d: step %q, want %q (%s)", c.cmd.Process.Pid, s.Name, name, s.Err)
	}
	if s.Errno != want {
		t.Errorf("child %d: %s: errno %d (%s), want %d", c.cmd.Process.Pid, name, s.Errno, s.Err, want)
	}
}

// gather returns the metric family name in reg, by its one label's value.
func gather(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}
