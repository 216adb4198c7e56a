package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/rights"
)

// stage2Verb is the hidden argv[1] with which Run re-executes the running
// binary as the child that confines itself and then becomes the program
// (argv[0] is the program's name, for ps). MaybeStage2 recognises it.
const stage2Verb = "__capfd_run_stage2"

// stage2Env carries the stage-2 configuration (JSON); it is removed from
// the environment before the program is executed.
const stage2Env = "CAPFD_RUN_STAGE2"

// stage2ControlFd is the socket to the supervisor, the first ExtraFile.
const stage2ControlFd = 3

// stage2Config is what the launcher tells its child.
type stage2Config struct {
	Path     string           `json:"path"` // absolute path of the program
	Argv     []string         `json:"argv"`
	Landlock []landlock.Grant `json:"landlock"`
	Union    rights.Rights    `json:"union"`
	// AppendOnly: some grant is append-only (notify.FilterShape).
	AppendOnly bool `json:"append_only"`
	// Ambient is what capability mode gives back beyond files.
	Ambient  capmode.Policy `json:"ambient"`
	Verbose  bool           `json:"verbose"`
	Learn    bool           `json:"learn"`
	KeepCaps bool           `json:"keep_caps"`
	// Kernel, set in kernel mode, is what the kernel answers in the view
	// (kernelmode_linux.go); HostMountNS is the launcher's mount
	// namespace, which stage 2 must not be in to build the view, and
	// ModeRequired makes a missing view an error rather than the brokered
	// mode.
	Kernel       *notify.KernelForms `json:"kernel,omitempty"`
	HostMountNS  uint64              `json:"host_mount_ns,omitempty"`
	ModeRequired bool                `json:"mode_required,omitempty"`
	// ExecHint is added to the error of an exec the kernel refuses
	// (interpreterHint); "" for none.
	ExecHint string `json:"exec_hint,omitempty"`
}

// hooked records that the binary called MaybeStage2, so Run can refuse to
// re-execute a binary that would not recognise stage 2 (a test binary
// would run its tests again, and again).
var hooked bool

// MaybeStage2 is the hook a binary that calls Run must call first thing in
// main (a test binary: in TestMain, before m.Run). In the process Run
// re-executed as stage 2 (argv[1] is stage2Verb) it never returns: it confines the process, execs or
// starts the program, and exits with stage 2's status. Anywhere else it
// returns at once, having noted that the binary can be its own stage 2.
//
// Call it before the program does anything else: whatever runs before it
// in stage 2 runs unconfined, and whatever it leaves running (goroutines
// opening files) would run under the program's filter.
func MaybeStage2() {
	hooked = true
	if len(os.Args) < 2 || os.Args[1] != stage2Verb {
		return
	}
	// Capabilities are per thread: the thread that drops them must be
	// the one that execs.
	runtime.LockOSThread()
	// Setting GOMAXPROCS stops the runtime re-reading the cgroup's CPU
	// limit every second (Go 1.25+): as the namespace's init, stage 2
	// lives under the program's filter, where those reads of /sys and
	// /proc are refused and would be logged as the program's.
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	os.Exit(stage2())
}

// stage2 runs in the child: Landlock (best effort), then the seccomp filter,
// hands the listener to the supervisor, waits for its go-ahead, and execs
// the program, or, as the init of a PID namespace, starts it as its child
// (runAsInit). Exit codes follow the shell's: 126 when the sandbox cannot be
// set up, 127 when the program cannot be executed.
//
// Landlock comes first: its own setup opens the granted paths, which under
// the seccomp filter would be notified to a supervisor that is not yet
// serving.
func stage2() int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "capfd run: "+format+"\n", args...)
		return code
	}
	var cfg stage2Config
	if err := json.Unmarshal([]byte(os.Getenv(stage2Env)), &cfg); err != nil {
		return fail(126, "stage 2: bad configuration: %v", err)
	}
	os.Unsetenv(stage2Env)

	if os.Getpid() == 1 {
		// Before Landlock, which would refuse the write to /proc/sys.
		if err := forbidExecutableMemfds(); err != nil && cfg.Verbose {
			fmt.Fprintf(os.Stderr, "capfd run: memfds stay executable: %v\n", err)
		}
	}
	rules := cfg.Landlock
	if cfg.Kernel != nil {
		inView, err := enterView(&cfg)
		switch {
		case err != nil:
			return fail(126, "%v", err)
		case inView:
			rules = append(append(rules[:len(rules):len(rules)], procGrant), stdioGrants()...)
			if os.Getuid() != 0 {
				// A launcher that is not root made a user
				// namespace that maps its own ids only: the
				// kernel would show every other owner as the
				// overflow id, the supervisor shows the real one.
				cfg.Kernel.Stat = false
			}
		default:
			cfg.Kernel = nil
		}
	}
	report, err := landlock.RestrictThread(rules, cfg.Ambient.Landlock())
	if err != nil && cfg.Kernel != nil {
		// Only Landlock decides a native read-only open: brokered, in
		// the view, where the supervisor's names are the same.
		if cfg.ModeRequired {
			return fail(126, "kernel mode: Landlock: %v", err)
		}
		cfg.Kernel = nil
	}
	switch {
	case err != nil && len(cfg.Ambient.ConnectTCP)+len(cfg.Ambient.BindTCP) > 0 && !cfg.Ambient.Net:
		// Only Landlock can hold TCP to the granted ports.
		return fail(126, "%v", err)
	case err != nil:
		// The supervisor still confines every path syscall; what is
		// lost is the in-kernel exec check, so say so.
		fmt.Fprintf(os.Stderr, "capfd run: warning: Landlock unavailable, exec is not restricted to granted programs: %v\n", err)
	case cfg.Verbose:
		fmt.Fprintf(os.Stderr, "capfd run: landlock: %v\n", report)
	}
	if !cfg.Ambient.Signal && !report.Ambient.ScopeSignal && os.Getpid() != 1 {
		// Neither a PID namespace nor Landlock's signal scope: what
		// capability mode cannot hold is said, not silently allowed.
		fmt.Fprintf(os.Stderr, "capfd run: warning: signals to processes outside the sandbox are not refused: no PID namespace, and Landlock's signal scope (ABI 6) is not in force\n")
	}

	listener, err := notify.FilterFor(notify.FilterShape{Union: cfg.Union, AppendOnly: cfg.AppendOnly, Ambient: cfg.Ambient, Learn: cfg.Learn, Kernel: cfg.Kernel}).Install()
	if err != nil {
		return fail(126, "seccomp: %v", err)
	}
	if err := notify.SendFd(stage2ControlFd, listener); err != nil {
		return fail(126, "%v", err)
	}
	unix.Close(listener)
	var goAhead [1]byte
	if n, err := unix.Read(stage2ControlFd, goAhead[:]); n != 1 || goAhead[0] != 'G' {
		return fail(126, "supervisor did not start (%v)", err)
	}
	unix.Close(stage2ControlFd)

	// A launcher that is not root had no capabilities to keep: what
	// stage 2 holds then is only what it was given to build the view, in
	// its user namespace.
	if !cfg.KeepCaps || os.Getuid() != 0 {
		if err := dropCapabilities(); err != nil {
			return fail(126, "%v", err)
		}
	}
	if os.Getpid() == 1 {
		// The init of the program's PID namespace (treeContainment).
		brokerFd := -1
		if v, err := strconv.Atoi(os.Getenv(capfd.EnvBrokerFD)); err == nil {
			brokerFd = v
		}
		return runAsInit(cfg.Path, cfg.Argv, brokerFd, !cfg.Ambient.SameSession, cfg.ExecHint)
	}
	err = unix.Exec(cfg.Path, cfg.Argv, os.Environ())
	return fail(127, "%s", execError(cfg.Path, err, cfg.ExecHint))
}
