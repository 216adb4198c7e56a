package differential

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/internal/vmtest"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case roleLL:
		// A confining child: its argv after "--" is op.c's.
		flag.Parse()
		bins.op = os.Getenv(envOp)
		err := landlockChild(flag.Args())
		fmt.Fprintln(os.Stderr, "landlock child:", err)
		os.Exit(3)
	case roleBPF:
		// A child the parent marks for the BPF LSM, then op.c.
		bins.op = os.Getenv(envOp)
		err := bpfChild()
		fmt.Fprintln(os.Stderr, "bpf-lsm child:", err)
		os.Exit(3)
	}
	if vmtest.InVM() {
		// The guest has neither Go nor a C compiler: the host built op.c
		// and passed it in (TestDifferentialBPFInVM), and the layers that
		// need cmd/capfd do not run here.
		bins.op = os.Getenv(envOp)
		bins.err = fmt.Errorf("no Go toolchain in the VM guest to build cmd/capfd")
		os.Exit(m.Run())
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
