package differential

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

// landlockBackend is the kernel layer of hosts without BPF LSM on its
// own: a child of the test binary restricts itself with broker/landlock to
// the case's grants, installs broker/seccomp's filter for their rights,
// the way tests/bypass's landlock+seccomp backend does, and execs op.c
// (both survive exec). One process per case: seccomp decides on the union
// of every grant's rights, so cases cannot share a process.
type landlockBackend struct{}

func (landlockBackend) Name() string { return "landlock+seccomp" }

func (landlockBackend) Available() error {
	if bins.op == "" {
		return fmt.Errorf("op.c not built (no C compiler with static libc)")
	}
	if _, err := landlock.Probe(); err != nil {
		return err
	}
	return seccomp.Probe()
}

func (landlockBackend) Inexpressible(*Case) string { return "" }

// Environment of the confining child.
const (
	envRole   = "CAPFD_DIFF_ROLE"
	envGrants = "CAPFD_DIFF_GRANTS"
	roleLL    = "landlock"
)

func (landlockBackend) Run(t *testing.T, cases []*Case, roots []string) []string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(cases))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 { // the host's two cores
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = landlockOne(self, cases[i], roots[i])
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func landlockOne(self string, c *Case, root string) string {
	grants := []landlock.Grant{
		{Path: bins.op, Rights: rights.Uniform(rights.Read | rights.Exec)},
		{Path: root, Rights: c.Outer},
	}
	if c.Nested {
		grants = append(grants, landlock.Grant{Path: filepath.Join(root, "n"), Rights: c.Inner})
	}
	js, err := json.Marshal(grants)
	if err != nil {
		return "setup: " + err.Error()
	}
	cmd := exec.Command(self, append([]string{"-test.run=^$", "--"}, c.Action.Argv(filepath.Join(root, c.HandleDir()))...)...)
	cmd.Env = append(os.Environ(), envRole+"="+roleLL, envGrants+"="+string(js))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("child: %v: %s", err, stderr.String())
	}
	return string(bytes.TrimSpace(stdout.Bytes()))
}

// landlockChild confines this process to the grants in the environment
// and execs op.c with argv. It returns only on failure.
func landlockChild(argv []string) error {
	var grants []landlock.Grant
	if err := json.Unmarshal([]byte(os.Getenv(envGrants)), &grants); err != nil {
		return err
	}
	if _, err := landlock.Restrict(grants); err != nil {
		return err
	}
	var union rights.Rights
	for _, g := range grants {
		union |= g.Rights.Base | g.Rights.Inherit
	}
	fd, err := seccomp.Filter{Default: seccomp.Allow, Rules: seccomp.RulesFor(union)}.Install()
	if err != nil {
		return err
	}
	if fd >= 0 {
		unix.Close(fd)
	}
	return syscall.Exec(bins.op, append([]string{bins.op}, argv...), os.Environ())
}
