package differential

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/rights"
)

// bpfBackend is the BPF LSM layer (broker/lsm), the way the broker uses
// it: this process loads the programs, grants each case's fixture root
// (and n/ for the nested shape) to a sandbox by inode with the case's
// pair, and marks a child through its pidfd before the child execs op.c.
// The grants are per inode, so, as for `capfd run`, many cases share one
// marked child, each acting in its own granted fixture (nothing above the
// fixtures is granted, so no grant reaches from one fixture into
// another). The host refuses BPF LSM programs: the layer runs in the VM
// guests (TestDifferentialBPFInVM).
type bpfBackend struct{}

func (bpfBackend) Name() string { return "bpf-lsm" }

func (bpfBackend) Available() error {
	if bins.op == "" {
		return fmt.Errorf("op.c not built (no C compiler with static libc)")
	}
	if err := lsm.Probe(); err != nil {
		return fmt.Errorf("missing feature: BPF LSM programs cannot be loaded here (run TestDifferentialBPFInVM): %w", err)
	}
	return nil
}

func (bpfBackend) Inexpressible(*Case) string { return "" }

// roleBPF is the environment value (envRole) of the marked child.
const roleBPF = "bpf"

// The child's ends of the handshake pipes: ExtraFiles[0] and [1].
const (
	bpfGoFd    = 3 // the parent writes "go" once the child is marked
	bpfReadyFd = 4 // the child writes "ready" once it runs
)

func (bpfBackend) Run(t *testing.T, cases []*Case, roots []string) []string {
	e, err := lsm.Load(lsm.Options{})
	if err != nil {
		t.Fatalf("bpf-lsm: load: %v", err)
	}
	// Denials are what explains a child that failed outright (a refused
	// exec mapping kills it with SIGSEGV, saying nothing).
	denials := &denialLog{bySandbox: map[uint32][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range e.Denials() {
			denials.add(d)
		}
	}()
	defer func() {
		if err := e.Close(); err != nil {
			t.Errorf("bpf-lsm: close: %v", err)
		}
		<-done // Close closes Denials
	}()
	// Which hooks exist differs per kernel (file_truncate from 6.2): say
	// so, since an answer may depend on it.
	t.Logf("bpf-lsm: %d hooks attached; absent from this kernel: %v", len(e.Attached()), e.Skipped())
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(cases))
	for start := 0; start < len(cases); start += runBatch {
		end := min(start+runBatch, len(cases))
		// Sandbox 0 means "unmarked"; each batch gets a fresh one.
		sandbox := uint32(start/runBatch + 1)
		out = append(out, bpfBatch(t, e, denials, self, sandbox, cases[start:end], roots[start:end])...)
	}
	return out
}

// bpfBatch grants the batch's fixtures to sandbox, runs op.c on all of its
// cases in one marked child, and revokes the grants.
func bpfBatch(t *testing.T, e *lsm.Enforcer, denials *denialLog, self string, sandbox uint32, cases []*Case, roots []string) []string {
	type grant struct {
		path string
		pair rights.Pair
	}
	// The child must be able to exec op.c once marked.
	grants := []grant{{bins.op, rights.Uniform(rights.ReadExec)}}
	var argv []string
	for i, c := range cases {
		grants = append(grants, grant{roots[i], c.Outer})
		if c.Nested {
			grants = append(grants, grant{filepath.Join(roots[i], "n"), c.Inner})
		}
		if i > 0 {
			argv = append(argv, ";")
		}
		argv = append(argv, c.Action.Argv(filepath.Join(roots[i], c.HandleDir()))...)
	}
	for _, g := range grants {
		if err := e.GrantPath(sandbox, g.path, g.pair); err != nil {
			t.Fatalf("bpf-lsm: grant %s: %v", g.path, err)
		}
	}
	defer func() {
		n, err := e.RevokeSandbox(sandbox)
		if err != nil || n != len(grants) {
			t.Errorf("bpf-lsm: revoking sandbox %d removed %d grants of %d: %v", sandbox, n, len(grants), err)
		}
	}()

	// The handshake: the child says "ready" once it runs, the parent marks
	// it and says "go", and the child execs op.c, which so runs marked from
	// its first instruction (the mark survives exec). Marking as soon as
	// Start returns would be too early: Start returns when the exec of the
	// test binary has passed its point of no return, while the kernel may
	// still be mapping the binary, and a marked process may map nothing
	// executable it has no grant for (it dies of SIGSEGV).
	goR, goW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer goW.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer readyR.Close()
	cmd := exec.Command(self, append([]string{"-test.run=^$", "--"}, argv...)...)
	cmd.Env = append(os.Environ(), envRole+"="+roleBPF)
	cmd.ExtraFiles = []*os.File{goR, readyW}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Start()
	goR.Close()
	readyW.Close()
	if err != nil {
		t.Fatal(err)
	}
	abort := func(format string, args ...any) {
		goW.Close()
		cmd.Wait()
		t.Fatalf("bpf-lsm: "+format+"\nchild's stderr:\n%s", append(args, stderr.String())...)
	}
	if line, err := bufio.NewReader(readyR).ReadString('\n'); err != nil || line != "ready\n" {
		abort("handshake: child said %q, %v", line, err)
	}
	if err := e.MarkPID(cmd.Process.Pid, sandbox); err != nil {
		abort("%v", err)
	}
	if _, err := goW.WriteString("go\n"); err != nil {
		abort("handshake: %v", err)
	}
	goW.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bpf-lsm child: %v\n%s\ndenials so far:\n\t%s", err, stderr.String(), strings.Join(denials.of(sandbox), "\n\t"))
	}
	return helperLines(t, stdout.String(), len(cases), stderr.String())
}

// bpfChild says it runs, waits until the parent has marked it, then execs
// op.c with the arguments after "--". It returns only on failure.
func bpfChild() error {
	flag.Parse()
	ready := os.NewFile(bpfReadyFd, "ready")
	if _, err := ready.WriteString("ready\n"); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	ready.Close()
	line, err := bufio.NewReader(os.NewFile(bpfGoFd, "go")).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "go" {
		return fmt.Errorf("handshake: got %q, %v", line, err)
	}
	return syscall.Exec(bins.op, append([]string{bins.op}, flag.Args()...), os.Environ())
}

// denialLog keeps the enforcer's denials by sandbox.
type denialLog struct {
	mu        sync.Mutex
	bySandbox map[uint32][]string
}

func (l *denialLog) add(d lsm.Denial) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bySandbox[d.Sandbox] = append(l.bySandbox[d.Sandbox], d.String())
}

func (l *denialLog) of(sandbox uint32) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.bySandbox[sandbox])
}
