// Package runsuite builds the binaries for the suites that run capfd as a
// user would, and checks that this machine can run them (tests/run,
// tests/realprog).
package runsuite

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/capfd/capfd/broker/seccomp"
)

// Build builds each Go package of outputs (output path -> package) with
// CGO_ENABLED=0, as a user's `go build` of a static capfd would, and
// returns the last failure.
func Build(outputs map[string]string) error {
	var last error
	for out, pkg := range outputs {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			last = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return last
}

// Require fails t if the binaries did not build (buildErr), and skips it,
// saying why, where seccomp user notification is missing.
func Require(t testing.TB, buildErr error) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if err := seccomp.Probe(); err != nil {
		t.Skipf("seccomp user notification unavailable: %v", err)
	}
}
