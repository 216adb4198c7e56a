package launch

import (
	"errors"
	"io"
	"os"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

// Options says what to run and with which grants.
type Options struct {
	// Argv is the program and its arguments. Argv[0] is looked up in the
	// launcher's $PATH (exec.LookPath) and also names stage 2 in ps(1).
	Argv []string
	// Env is the program's environment; nil means the part of the
	// launcher's own that capability mode keeps (capmode.KeptEnv).
	Env []string
	// Ambient is what capability mode gives back beyond files: the
	// network, abstract sockets, signals, the caller's session. The zero
	// value gives back nothing.
	Ambient capmode.Policy

	// Profile holds the grants the program needs to run at all (the
	// loader, its libraries: profile.Default) and Grants the user's. The
	// supervisor and the kernel layers enforce both; only Grants, the
	// directories among them, are served to capability-aware code by the
	// embedded broker (capfd.FromEnv), which has no business handing out
	// /usr/lib.
	Profile, Grants []notify.Grant
	// BrokerSocket, if set, gives capability-aware code a connection to
	// the broker listening there instead of the embedded one.
	BrokerSocket string

	// KeepCaps lets the program keep its capabilities(7); by default it
	// runs with none (dropCapabilities).
	KeepCaps bool
	// NoNamespace runs the program tree without a PID namespace, as on a
	// host that allows none (treeContainment); so does NoNamespaceEnv=1
	// in the launcher's environment.
	NoNamespace bool

	// Mode is how path syscalls are answered: ModeAuto ("" too),
	// ModeKernel or ModeBrokered (kernelmode_linux.go).
	Mode Mode

	// Stdin, Stdout and Stderr are the program's; nil means the
	// launcher's own. Stage 2 reports its failures on Stderr.
	Stdin, Stdout, Stderr *os.File
	// Log receives the launcher's messages ("capfd run: ...") and the
	// supervisor's refusals; nil means os.Stderr.
	Log io.Writer
	// Quiet drops the refusals from Log; Verbose prints every refusal as
	// it happens (by default only a failure's last ones are, at the end:
	// report.go), the kernel layers in force and, at the end, the
	// supervisor's counters.
	Quiet, Verbose bool
	// LogFormat is LogText (or "") or LogJSON: every refusal as it
	// happens, one JSON object per line on Log, and a last "exit" one.
	LogFormat string
	// Audit, if set, receives that JSON stream whatever Log shows.
	Audit io.Writer
	// Learn, if set, records what the program needed (learn.go);
	// LearnAllow adds a learning grant on "/", which allows what no other
	// grant decides.
	Learn      *Learner
	LearnAllow bool
}

// ErrStage2 is wrapped by the error Run returns when stage 2 failed before
// the program started: stage 2 has already said why on the program's
// Stderr, and the status Run returns is stage 2's exit status.
var ErrStage2 = errors.New("stage 2 failed before the program started")

// allGrants is what the supervisor enforces: the profile, then the user's
// grants. Every one is optional: a grant of a path that does not exist
// (yet: a file the program is to create, an output directory) is not an
// error but an absent path, which the program sees as missing, as it
// would without capfd; Run notes each one the user gave (missingGrants).
func (o *Options) allGrants() []notify.Grant {
	all := append(append([]notify.Grant(nil), o.Profile...), o.Grants...)
	for i := range all {
		all[i].Optional = true
	}
	if o.Learn != nil && o.LearnAllow {
		all = append(all, notify.Grant{Path: "/", Rights: rights.Uniform(rights.All), Learn: true})
	}
	return all
}

// missingGrants are the user's grants the supervisor found missing.
func (o *Options) missingGrants(sup *notify.Supervisor) []string {
	open := map[string]bool{}
	for _, g := range sup.Grants() {
		open[g.Path] = true
	}
	var missing []string
	for _, g := range o.Grants {
		if !open[g.Path] {
			missing = append(missing, g.Path)
		}
	}
	return missing
}

func (o *Options) log() io.Writer {
	if o.Log == nil {
		return os.Stderr
	}
	return o.Log
}

func orStd(f, std *os.File) *os.File {
	if f == nil {
		return std
	}
	return f
}
