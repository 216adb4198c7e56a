package differential

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRole) == roleLL {
		// A confining child: its argv after "--" is op.c's.
		flag.Parse()
		bins.op = os.Getenv(envOp)
		err := landlockChild(flag.Args())
		fmt.Fprintln(os.Stderr, "landlock child:", err)
		os.Exit(3)
	}
	dir, err := os.MkdirTemp("", "capfd-differential-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The helper runs as root here, but keep it reachable by anyone.
	os.Chmod(dir, 0o755)
	bins.capfd = filepath.Join(dir, "capfd")
	build := exec.Command("go", "build", "-o", bins.capfd, "github.com/capfd/capfd/cmd/capfd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		bins.err = fmt.Errorf("go build cmd/capfd: %v\n%s", err, b)
	}
	// Static, so that it needs no loader or library granted, and runs in
	// the VM guests, which have no libc.
	if cc, err := exec.LookPath("cc"); err == nil {
		op := filepath.Join(dir, "op")
		if b, err := exec.Command(cc, "-O2", "-static", "-Wall", "-o", op, "testdata/op.c").CombinedOutput(); err == nil {
			bins.op = op
		} else {
			fmt.Fprintf(os.Stderr, "op.c not built: %v\n%s", err, b)
		}
	}
	os.Setenv(envOp, bins.op)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// envOp tells a confining child where op.c's binary is.
const envOp = "CAPFD_DIFF_OP"
