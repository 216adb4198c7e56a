package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/broker/notify/launch"
	"github.com/capfd/capfd/broker/profile"
	"github.com/capfd/capfd/rights"
)

func init() {
	register("run", command{
		summary: "run an unmodified program in capability mode: run --grant PATH=RIGHTS ... -- PROG ARGS",
		usage:   "[flags] -- PROG [ARGS...]",
		help:    runHelp,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			finish := runFlags(fs)
			return func(args []string, stdout, stderr io.Writer) int {
				opts, code := finish(args, stderr)
				if code >= 0 {
					return code
				}
				return runRun(opts, stderr)
			}
		},
	})
}

// grantFlags collects repeated --grant PATH=RIGHTS[:INHERIT] flags.
type grantFlags []notify.Grant

func (g *grantFlags) String() string { return fmt.Sprint(*g) }

func (g *grantFlags) Set(v string) error {
	grant, err := parseGrant(v)
	if err != nil {
		return err
	}
	*g = append(*g, grant)
	return nil
}

// parseGrant reads PATH=RIGHTS[:INHERIT]. The path is made absolute
// against the current directory; the last "=" separates it from the
// rights, so a path may itself contain "=". Whitespace around the path
// and the rights is dropped ("data = ro" is data=ro). Empty rights are an
// error: a grant of nothing is written PATH=none.
func parseGrant(v string) (notify.Grant, error) { return parseGrantIn(v, "") }

// parseGrantIn is parseGrant with a relative path taken in dir (the
// current directory if dir is "").
func parseGrantIn(v, dir string) (notify.Grant, error) {
	i := strings.LastIndexByte(v, '=')
	p, r := "", ""
	if i >= 0 {
		p, r = strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:])
	}
	if p == "" {
		return notify.Grant{}, fmt.Errorf("grant %q: want PATH=RIGHTS[:INHERIT], e.g. data=ro or out=rw", v)
	}
	if r == "" {
		return notify.Grant{}, fmt.Errorf("grant %q: no rights after '=': want PATH=RIGHTS[:INHERIT], e.g. %s=ro (%s=none grants it on purpose with no rights)", v, p, p)
	}
	pair, err := rights.ParsePair(r)
	if err != nil {
		return notify.Grant{}, fmt.Errorf("grant %q: %w", v, err)
	}
	if dir != "" && !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return notify.Grant{}, fmt.Errorf("grant %q: %w", v, err)
	}
	return notify.Grant{Path: abs, Rights: pair}, nil
}

// runOptions is a parsed `capfd run` command line.
type runOptions struct {
	grants           []notify.Grant // the user's grants, from --grant and --config
	noDefaultProfile bool
	profiles         []string // the named profiles, from --profile
	profileGrants    []notify.Grant
	brokerSocket     string
	verbose, quiet   bool
	logFormat        string
	audit            string // --audit FILE
	learn            string // --learn FILE
	learnAllow       bool
	keepCaps         bool
	env              []string // the program's environment
	ambient          capmode.Policy
	mode             launch.Mode
	argv             []string
}

// listFlag collects a repeated flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// portFlag collects repeated tcp:PORT values.
type portFlag []uint16

func (p *portFlag) String() string { return fmt.Sprint(*p) }
func (p *portFlag) Set(v string) error {
	port, err := capmode.ParsePort(v)
	if err != nil {
		return err
	}
	*p = append(*p, port)
	return nil
}

// launchOptions is the launch of o: the default profile (unless refused),
// the named profiles and the user's grants; the program's stdio and the
// environment are capfd's own, and the launcher's messages go to stderr.
func (o *runOptions) launchOptions(stderr io.Writer) launch.Options {
	l := launch.Options{
		Argv:         o.argv,
		Profile:      o.profileGrants,
		Grants:       o.grants,
		BrokerSocket: o.brokerSocket,
		KeepCaps:     o.keepCaps,
		Mode:         o.mode,
		Env:          o.env,
		Ambient:      o.ambient,
		Log:          stderr,
		Quiet:        o.quiet,
		Verbose:      o.verbose,
		LogFormat:    o.logFormat,
	}
	return l
}

func runRun(opts *runOptions, stderr io.Writer) int {
	lo := opts.launchOptions(stderr)
	if opts.audit != "" {
		f, err := os.OpenFile(opts.audit, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return usageError(stderr, "run", "--audit: %v", err)
		}
		defer f.Close()
		lo.Audit = f
	}
	if opts.learn != "" {
		lo.Learn, lo.LearnAllow = launch.NewLearner(), opts.learnAllow
	}
	status, err := launch.Run(lo)
	if lo.Learn != nil && (err == nil || errors.Is(err, launch.ErrStage2)) {
		if werr := writeLearned(opts, lo.Learn); werr != nil {
			fmt.Fprintf(stderr, "capfd run: --learn: %v\n", werr)
			if status == 0 {
				status = 1
			}
		} else {
			fmt.Fprintf(stderr, "capfd run: learned grants written to %s\n", opts.learn)
		}
	}
	if err != nil && !errors.Is(err, launch.ErrStage2) {
		fmt.Fprintf(stderr, "capfd run: %v\n", err)
	}
	return status
}

func runHelp(w io.Writer) {
	fmt.Fprint(w, `Runs PROG in capability mode: its path system calls are answered by capfd
(seccomp user notification), which resolves them beneath the granted
directories only and with the granted rights. Landlock restricts exec to
granted programs. A refusal in a grant fails with EACCES; a path outside
every grant is absent (ENOENT), the directories above the grants visible
for stat only. Refusals ("capfd: not capable: ...", each with the --grant
that would allow it) are reported when PROG ends: after a failure, the last
ones before it (-v: every one as it happens; --log-format json, --audit:
as JSON). Beyond files PROG has no network, no
signals or IPC beyond the sandbox, a session of its own and an
allow-listed environment (docs/capability-mode.md; the flags below give
them back). The exit status is PROG's.

Profiles are granted before the user's grants; a path the user grants is
the user's grant alone. Every profile entry is optional (missing: skipped).

`)
	profile.WriteHelp(w)
}

// parseRunArgs parses a `capfd run` command line as runCLI does, help
// and errors going to stderr.
func parseRunArgs(args []string, stderr io.Writer) (*runOptions, int) {
	fs := newFlagSet("run")
	finish := runFlags(fs)
	if code := parseFlags(fs, args, stderr, stderr); code >= 0 {
		return nil, code
	}
	return finish(fs.Args(), stderr)
}

// runFlags defines run's flags on fs and returns what makes the options
// of them and of the arguments left after them, or an exit code (>= 0)
// once it has reported a misuse.
func runFlags(fs *flag.FlagSet) func(args []string, stderr io.Writer) (*runOptions, int) {
	var grants grantFlags
	fs.Var(&grants, "grant", "grant `PATH=RIGHTS[:INHERIT]` (repeatable): RIGHTS as in `capfd rights`, e.g. ro, rw, rx, read,write")
	config := fs.String("config", "", "read grants from `FILE`: one PATH=RIGHTS[:INHERIT] per line, # comments")
	noDefault := fs.Bool("no-default-profile", false, "do not grant the default profile (loader, libraries, /bin, /dev/null, ...)")
	var profiles listFlag
	fs.Var(&profiles, "profile", "also grant the named profile `NAME` (repeatable): "+strings.Join(profile.Names(), ", "))
	brokerSocket := fs.String("broker", "", "give capability-aware programs a connection to the broker at `SOCKET` instead of the embedded one")
	verbose := fs.Bool("v", false, "log every refusal as it happens (probes and paths that do not exist included), the kernel layers in force and the counters")
	quiet := fs.Bool("q", false, "do not log refusals")
	logFormat := fs.String("log-format", launch.LogText, "`FORMAT` of the refusals on stderr: text (a failure's last refusals, at the end) or json (every refusal as it happens, one object per line, then an exit object)")
	learn := fs.String("learn", "", "record what PROG needs and write, when it ends, the smallest grant `FILE` (for --config) that lets the same run succeed; the grants still refuse as given, so a second run learns more")
	learnAllow := fs.Bool("learn-allow", false, "with --learn: allow and record what no grant decides, so one run learns everything (PROG can then reach every file its user can)")
	audit := fs.String("audit", "", "also write every refusal as JSON lines, and an exit object, to `FILE` (created or truncated, mode 0600)")
	mode := fs.String("mode", string(launch.ModeAuto), "how path syscalls are answered: `MODE` auto (kernel where it can be had), kernel (the kernel answers what it decides as capfd would, in the program's own view of the filesystem; fails where that cannot be had) or brokered (the supervisor answers every one, and reports every refusal)")
	keepCaps := fs.Bool("keep-caps", false, "let the program keep its capabilities(7) (by default it runs with none: a privileged program could otherwise work around the path rules)")
	var env listFlag
	fs.Var(&env, "env", "give the program `NAME[=VALUE]` (repeatable): set it, or copy it from capfd's environment")
	keepEnv := fs.Bool("keep-env", false, "keep capfd's whole environment (by default only "+strings.Join(capmode.KeptEnv, " ")+")")
	var connect, bind portFlag
	fs.Var(&connect, "connect", "allow TCP connections to `tcp:PORT` (repeatable; any host: the kernel decides by port)")
	fs.Var(&bind, "bind", "allow binding (and listening on) `tcp:PORT` (repeatable)")
	allowNet := fs.Bool("allow-net", false, "give the program the host network whole: every socket family, UDP, any address")
	allowAbstract := fs.Bool("allow-abstract", false, "allow abstract Unix sockets beyond the sandbox")
	allowSignal := fs.Bool("allow-signal", false, "allow signals to processes beyond the sandbox")
	sameSession := fs.Bool("same-session", false, "keep the program in capfd's session, the terminal its controlling terminal (job control; TIOCSTI stays refused)")
	return func(args []string, stderr io.Writer) (*runOptions, int) {
		if len(args) == 0 {
			return nil, usageError(stderr, "run", "no program given (capfd run [flags] -- PROG [ARGS...])")
		}
		opts := &runOptions{
			noDefaultProfile: *noDefault,
			profiles:         profiles,
			brokerSocket:     *brokerSocket,
			verbose:          *verbose,
			quiet:            *quiet,
			logFormat:        *logFormat,
			audit:            *audit,
			learn:            *learn,
			learnAllow:       *learnAllow,
			keepCaps:         *keepCaps,
			ambient: capmode.Policy{
				ConnectTCP:  connect,
				BindTCP:     bind,
				Net:         *allowNet,
				Abstract:    *allowAbstract,
				Signal:      *allowSignal,
				SameSession: *sameSession,
			},
			argv: args,
		}
		var err error
		if opts.mode, err = launch.ParseMode(*mode); err != nil {
			return nil, usageError(stderr, "run", "--mode: %v", err)
		}
		if opts.learnAllow && opts.learn == "" {
			return nil, usageError(stderr, "run", "--learn-allow needs --learn FILE")
		}
		if opts.logFormat != launch.LogText && opts.logFormat != launch.LogJSON {
			return nil, usageError(stderr, "run", "--log-format %q: want text or json", opts.logFormat)
		}
		if opts.env, err = capmode.CallerEnviron(*keepEnv, env); err != nil {
			return nil, usageError(stderr, "run", "%v", err)
		}
		if *config != "" {
			fromFile, err := readGrantFile(*config)
			if err != nil {
				return nil, usageError(stderr, "run", "%v", err)
			}
			opts.grants = append(opts.grants, fromFile...)
		}
		opts.grants = append(opts.grants, grants...)
		if opts.profileGrants, err = profile.Grants(opts.noDefaultProfile, opts.profiles, opts.grants); err != nil {
			return nil, usageError(stderr, "run", "--profile: %v", err)
		}
		return opts, -1
	}
}

// readGrantFile reads a grant list: one PATH=RIGHTS[:INHERIT] per line;
// blank lines and lines starting with # are skipped. Relative paths are
// relative to the file's directory, so a config can travel with its data.
func readGrantFile(name string) ([]notify.Grant, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	base, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var out []notify.Grant
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		g, err := parseGrantIn(line, base)
		if err != nil {
			return nil, fmt.Errorf("config %s:%d: %w", name, n, err)
		}
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, errors.New("config " + name + ": no grants")
	}
	return out, nil
}

// writeLearned writes the grants learner learned to the --learn file.
func writeLearned(opts *runOptions, learner *launch.Learner) error {
	f, err := os.Create(opts.learn)
	if err != nil {
		return err
	}
	if err := launch.WriteGrantFile(f, opts.argv, learner.Grants(opts.grants, opts.profileGrants)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
