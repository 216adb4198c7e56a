package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/capfd"
)

// launch runs opts.argv confined and returns its exit status.
//
// The process tree:
//
//	capfd run (supervisor; embedded broker)
//	└── capfd __capfd_run_stage2    confined; init of a new PID namespace
//	    └── PROG                    confined; pid 2 in the namespace
//	        └── ...                 inherit the confinement
//
// Stage 2 reaps what the program orphans and exits with the program's
// status once the last process of the namespace is gone; when it dies, the
// kernel kills the namespace, and it dies with the launcher (parent-death
// signal): see treeContainment. Without a namespace (neither CAP_SYS_ADMIN
// nor user namespaces) stage 2 execs the program itself and the launcher,
// a subreaper, reaps the orphans. Either way the supervisor serves
// notifications until the last process of the tree is gone (the listener
// reports POLLHUP), and exits with the status of the program itself.
func launch(opts *runOptions, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "capfd run: "+format+"\n", args...)
		return 126
	}
	prog, err := exec.LookPath(opts.argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "capfd run: %v\n", err)
		return 127
	}
	if prog, err = absPath(prog); err != nil {
		return fail("%v", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail("cannot find own executable: %v", err)
	}

	logTo := stderr
	if opts.quiet {
		logTo = io.Discard
	}
	sup, err := notify.New(notify.Config{Grants: opts.allGrants(), Log: logTo, Verbose: opts.verbose})
	if err != nil {
		return fail("%v", err)
	}
	defer sup.Close()

	var ll []landlock.Grant
	for _, g := range sup.Grants() {
		ll = append(ll, landlock.Grant{Path: g.Path, Rights: g.Rights})
	}
	cfg, err := json.Marshal(stage2Config{Path: prog, Argv: opts.argv, Landlock: ll, Union: sup.Union(), AppendOnly: sup.Shape().AppendOnly, Verbose: opts.verbose, KeepCaps: opts.keepCaps})
	if err != nil {
		return fail("%v", err)
	}

	// Orphans of the program become our children, so we can wait for the
	// whole tree (and reap it: zombies keep the filter alive).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}

	control, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socketpair: %v", err)
	}
	defer unix.Close(control[0])
	childControl := os.NewFile(uintptr(control[1]), "capfd-control")

	cmd := exec.Command(self, stage2Verb)
	cmd.Args[0] = opts.argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), stage2Env+"="+string(cfg))
	cmd.ExtraFiles = []*os.File{childControl}
	// If the launcher dies outright (SIGKILL, OOM), its program must die
	// with it rather than run on with nobody answering its path syscalls.
	// Stage 2 has the parent-death signal, and the program's whole tree
	// dies with it (treeContainment). The signal fires when the forking
	// *thread* exits, so the thread stays locked to this goroutine until
	// the program has been waited for.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	brokerDone, err := attachBroker(ctx, cmd, opts, sup)
	if err != nil {
		childControl.Close()
		return fail("%v", err)
	}

	if err := startContained(cmd, stderr, opts.verbose); err != nil {
		childControl.Close()
		return fail("start: %v", err)
	}
	childControl.Close()
	for _, f := range cmd.ExtraFiles[1:] {
		f.Close()
	}
	pid := cmd.Process.Pid

	listener, err := notify.RecvFd(control[0])
	if err != nil {
		// stage 2 explained on stderr; its status says how it failed.
		return reapAll(pid)
	}
	enf := markForLSM(pid, sup, opts, stderr)

	served := make(chan error, 1)
	go func() {
		defer unix.Close(listener)
		served <- sup.Serve(listener)
	}()

	// ^C and ^\ reach the program from the terminal directly (same
	// foreground process group): the launcher only survives them, so the
	// program is not signalled twice. SIGTERM and SIGHUP, what kill(1) and
	// a closing session send to the launcher, are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = unix.Kill(pid, s.(syscall.Signal))
			}
		}
	}()

	if _, err := unix.Write(control[0], []byte{'G'}); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reapAll(pid)
		return fail("start the program: %v", err)
	}

	status := reapAll(pid)
	// The tree is gone, so the filter has no users and every waiting
	// worker returns at once. One stuck inside an operation (a hung
	// network or FUSE file system) answers nobody any more: it is not
	// waited for beyond a grace period.
	select {
	case err := <-served:
		if err != nil {
			fmt.Fprintf(stderr, "capfd run: %v\n", err)
		}
	case <-time.After(serveGrace):
		fmt.Fprintf(stderr, "capfd run: warning: the supervisor was still inside an operation %v after the program tree ended; exiting anyway\n", serveGrace)
	}
	cancel()
	if brokerDone != nil {
		<-brokerDone
	}
	if opts.verbose {
		handled, refused := sup.Stats()
		fmt.Fprintf(stderr, "capfd run: %d requests served, %d refused\n", handled, refused)
		if enf != nil {
			fmt.Fprintf(stderr, "capfd run: BPF LSM denials: %s\n", denialCounts(enf.Counts()))
		}
	}
	return status
}

// serveGrace is how long the launcher waits, once the program tree is
// gone, for the supervisor's workers to return.
const serveGrace = 2 * time.Second

// startContained starts stage 2 with the best tree containment this
// process can have (treeContainment), falling back to the next when the
// kernel refuses a namespace, and warns when there is none.
func startContained(cmd *exec.Cmd, stderr io.Writer, verbose bool) error {
	var refused []string
	if os.Getenv(noNamespaceEnv) == "1" {
		refused = append(refused, "disabled by "+noNamespaceEnv+"=1")
	}
	for _, c := range containments() {
		try := *cmd
		try.SysProcAttr = containmentAttrs(c)
		err := try.Start()
		if err != nil && c != containNone && namespaceRefused(err) {
			refused = append(refused, fmt.Sprintf("%v: %v", c, err))
			continue
		}
		if err != nil {
			return err
		}
		*cmd = try
		switch {
		case c == containNone:
			fmt.Fprintf(stderr, "capfd run: warning: no PID namespace (%s): if capfd run is killed outright, processes the program starts in the background may outlive it\n", strings.Join(refused, "; "))
		case verbose:
			fmt.Fprintf(stderr, "capfd run: the program tree runs in a %v\n", c)
		}
		return nil
	}
	return errors.New("no way to start the program") // containNone is always tried
}

// attachBroker gives the program a broker connection for capability-aware
// code (capfd.FromEnv): one end of a socketpair served by an embedded
// broker with the user's directory grants, or with --broker a connection to
// an existing broker (which then identifies the client as this launcher:
// SO_PEERCRED is taken at connect time). The descriptor is the child's fd 4,
// named by CAPFD_BROKER_FD. The returned channel closes when the embedded
// broker has stopped.
func attachBroker(ctx context.Context, cmd *exec.Cmd, opts *runOptions, sup *notify.Supervisor) (<-chan struct{}, error) {
	const childFd = stage2ControlFd + 1
	setEnv := func() { cmd.Env = append(cmd.Env, capfd.EnvBrokerFD+"="+strconv.Itoa(childFd)) }
	if opts.brokerSocket != "" {
		conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: opts.brokerSocket, Net: "unixpacket"})
		if err != nil {
			return nil, fmt.Errorf("broker %s: %w", opts.brokerSocket, err)
		}
		f, err := conn.File()
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("broker %s: %w", opts.brokerSocket, err)
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		setEnv()
		return nil, nil
	}
	var grants []broker.Grant
	for _, g := range opts.grants {
		if st, err := os.Stat(g.Path); err == nil && st.IsDir() {
			grants = append(grants, broker.Grant{Name: g.Path, Path: g.Path, Rights: g.Rights})
		}
	}
	if len(grants) == 0 {
		return nil, nil
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("broker socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(pair[0]), "capfd-broker")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		unix.Close(pair[1])
		return nil, fmt.Errorf("broker: %w", err)
	}
	srv, err := broker.New(broker.Config{})
	if err != nil {
		fc.Close()
		unix.Close(pair[1])
		return nil, fmt.Errorf("broker: %w", err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(pair[1]), "capfd-broker-child"))
	setEnv()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeConn(ctx, fc.(*net.UnixConn), grants)
	}()
	return done, nil
}

// markForLSM confines the program with the BPF LSM as well, where the kernel
// has it (lsm.Probe), and returns the enforcer (nil if not used). Not
// reachable on hosts whose kernel refuses BPF trampoline programs; there
// Landlock and seccomp are the kernel layers.
//
// It runs while stage 2 waits for the go-ahead, so the mark is in place
// before the program's execve: the mark lives in the task and survives
// exec, and everything the program forks inherits it.
func markForLSM(pid int, sup *notify.Supervisor, opts *runOptions, stderr io.Writer) *lsm.Enforcer {
	if err := lsm.Probe(); err != nil {
		if opts.verbose {
			fmt.Fprintf(stderr, "capfd run: BPF LSM not used: %v\n", err)
		}
		return nil
	}
	enf, err := lsm.Load(lsm.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "capfd run: warning: BPF LSM: %v\n", err)
		return nil
	}
	const sandbox = 1
	grants := sup.Grants()
	for _, g := range grants {
		if err := enf.GrantPath(sandbox, g.Path, g.Rights); err != nil {
			fmt.Fprintf(stderr, "capfd run: warning: BPF LSM grant %s: %v\n", g.Path, err)
		}
	}
	// The child has not been waited for, so its pid cannot be reused.
	if err := enf.MarkPID(pid, sandbox); err != nil {
		fmt.Fprintf(stderr, "capfd run: warning: BPF LSM mark: %v\n", err)
		enf.Close()
		return nil
	}
	if opts.verbose {
		fmt.Fprintf(stderr, "capfd run: BPF LSM: marked pid %d (sandbox %d, %d grants, %d hooks attached)\n",
			pid, sandbox, len(grants), len(enf.Attached()))
	}
	// The enforcer lives as long as this process: the programs stay
	// attached until capfd run exits with the tree.
	return enf
}

// denialCounts formats the non-zero per-hook denial counters, sorted by
// hook, e.g. "file_open=2 mmap_file=1"; "none" if there are none. The
// counters are bumped by the hooks themselves, before the refused call
// returns, so unlike the Denials stream they are complete once the tree is
// gone.
func denialCounts(counts map[string]uint64) string {
	var parts []string
	for _, hook := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[hook]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", hook, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func absPath(p string) (string, error) {
	if len(p) > 0 && p[0] == '/' {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return wd + "/" + p, nil
}
