package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/vfsops"
)

// Run runs opts.Argv confined (see the package documentation for the
// process tree) and returns its exit status, shell-style: the program's
// own, 128+N when a signal killed it.
//
// A non-nil error means the program did not run: the launch failed, and
// the status is 126 (127 when the program was not found). The error does
// not repeat what stage 2 has already reported on the program's Stderr
// (ErrStage2). Messages that do not stop the program (warnings, Verbose
// reports, the supervisor's refusals) go to opts.Log.
//
// The binary must call MaybeStage2 first thing in main (or TestMain): Run
// re-executes it as stage 2.
func Run(opts Options) (int, error) {
	if !hooked {
		return 126, errors.New("the binary does not call launch.MaybeStage2 first thing in main, so it cannot be its own stage 2")
	}
	if len(opts.Argv) == 0 {
		return 126, errors.New("no program given")
	}
	log := opts.log()
	if !opts.Ambient.SameSession {
		log = rawSafe(log)
		opts.Log = log
	}
	prog, err := exec.LookPath(opts.Argv[0])
	if err != nil {
		return 127, err
	}
	if prog, err = absPath(prog); err != nil {
		return 126, err
	}
	self, err := os.Executable()
	if err != nil {
		return 126, fmt.Errorf("cannot find own executable: %w", err)
	}

	if opts.Verbose {
		fmt.Fprintf(log, "capfd run: capability mode gives back: %v\n", opts.Ambient)
	}
	rep := newReport(&opts, log)
	var learn func(notify.Need)
	if opts.Learn != nil {
		learn = opts.Learn.add
		if opts.LearnAllow {
			fmt.Fprintf(log, "capfd run: learning: what no grant decides is allowed and recorded; the program can reach every file its user can\n")
		}
	}
	sup, err := notify.New(notify.Config{Grants: opts.allGrants(), Log: log, Verbose: opts.Verbose, Ambient: opts.Ambient, Report: rep.add, Learn: learn})
	if err != nil {
		return 126, err
	}
	defer sup.Close()
	for _, p := range opts.missingGrants(sup) {
		fmt.Fprintf(log, "capfd run: note: grant %s: no such file or directory; the program sees it absent (grant its directory to let the program create it)\n", p)
	}

	kernel, err := kernelForms(&opts, sup)
	if err != nil {
		return 126, err
	}
	rep.kernel = kernel != nil
	hostNS, err := vfsops.MountNamespace()
	if err != nil && kernel != nil {
		return 126, err
	}
	var ll []landlock.Grant
	for _, g := range sup.Grants() {
		ll = append(ll, landlock.Grant{Path: g.Path, Rights: g.Rights})
	}
	cfg, err := json.Marshal(stage2Config{Path: prog, Argv: opts.Argv, Landlock: ll, Union: sup.Union(), AppendOnly: sup.Shape().AppendOnly, Ambient: opts.Ambient, Learn: opts.Learn != nil, Verbose: opts.Verbose, KeepCaps: opts.KeepCaps,
		ExecHint: interpreterHint(prog, sup.RightsAt), Kernel: kernel, HostMountNS: hostNS, ModeRequired: opts.Mode == ModeKernel})
	if err != nil {
		return 126, err
	}

	// Orphans of the program become our children, so we can wait for the
	// whole tree (and reap it: zombies keep the filter alive).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 126, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}

	control, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 126, fmt.Errorf("socketpair: %w", err)
	}
	defer unix.Close(control[0])
	childControl := os.NewFile(uintptr(control[1]), "capfd-control")

	env := opts.Env
	if env == nil {
		if env, err = capmode.CallerEnviron(false, nil); err != nil {
			return 126, err
		}
	}
	cmd := exec.Command(self, stage2Verb)
	cmd.Args[0] = opts.Argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = orStd(opts.Stdin, os.Stdin), orStd(opts.Stdout, os.Stdout), orStd(opts.Stderr, os.Stderr)
	var rl *relay
	if !opts.Ambient.SameSession {
		if rl, err = startRelay(cmd); err != nil {
			childControl.Close()
			return 126, fmt.Errorf("terminal relay: %w", err)
		}
		defer rl.close()
	}
	cmd.Env = append(env[:len(env):len(env)], stage2Env+"="+string(cfg))
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
	brokerDone, err := attachBroker(ctx, cmd, &opts)
	if err != nil {
		childControl.Close()
		return 126, err
	}

	if err := startContained(cmd, &opts, rl, kernel != nil); err != nil {
		childControl.Close()
		return 126, fmt.Errorf("start: %w", err)
	}
	childControl.Close()
	for _, f := range cmd.ExtraFiles[1:] {
		f.Close()
	}
	pid := cmd.Process.Pid
	if rl != nil {
		if err := rl.run(); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reapAll(pid)
			return 126, fmt.Errorf("terminal relay: %w", err)
		}
	}

	listener, err := notify.RecvFd(control[0])
	if err != nil {
		// stage 2 explained on stderr; its status says how it failed.
		return reapAll(pid), fmt.Errorf("%w: %v", ErrStage2, err)
	}
	enf := markForLSM(pid, sup, &opts, kernel != nil)
	if enf != nil {
		defer enf.Close()
	}

	served := make(chan error, 1)
	go func() {
		defer unix.Close(listener)
		served <- sup.Serve(listener)
	}()

	defer forwardSignals(pid, !opts.Ambient.SameSession)()

	if _, err := unix.Write(control[0], []byte{'G'}); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reapAll(pid)
		return 126, fmt.Errorf("start the program: %w", err)
	}

	status := reapAll(pid)
	// The tree is gone, so the filter has no users and every waiting
	// worker returns at once. One stuck inside an operation (a hung
	// network or FUSE file system) answers nobody any more: it is not
	// waited for beyond a grace period.
	select {
	case err := <-served:
		if err != nil {
			fmt.Fprintf(log, "capfd run: %v\n", err)
		}
	case <-time.After(serveGrace):
		fmt.Fprintf(log, "capfd run: warning: the supervisor was still inside an operation %v after the program tree ended; exiting anyway\n", serveGrace)
	}
	cancel()
	if brokerDone != nil {
		<-brokerDone
	}
	handled, _ := sup.Stats()
	rep.finish(prog, status, handled)
	if opts.Verbose {
		if enf != nil {
			fmt.Fprintf(log, "capfd run: BPF LSM denials: %s\n", denialCounts(enf.Counts()))
		}
	}
	return status, nil
}

// serveGrace is how long the launcher waits, once the program tree is
// gone, for the supervisor's workers to return.
const serveGrace = 2 * time.Second

// forwardSignals passes on to pid SIGTERM and SIGHUP, what kill(1) and a
// closing session send to the launcher, and, when the program runs in a
// session of its own (newSession), SIGINT and SIGQUIT: the terminal's ^C
// and ^\ reach only the launcher, in the terminal's foreground process
// group. In the caller's session they reach the program from the terminal
// directly, so the launcher only survives them (the program is not
// signalled twice). The returned function stops it.
func forwardSignals(pid int, newSession bool) (stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for s := range sigs {
			if newSession || s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = unix.Kill(pid, s.(syscall.Signal))
			}
		}
	}()
	return func() { signal.Stop(sigs) }
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
