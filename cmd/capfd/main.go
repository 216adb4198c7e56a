// Command capfd is the capfd command line: the broker, the launcher, a
// kernel-support check and small client verbs. Each verb lives in its own
// file and registers itself in init, so verbs stay independent; its help,
// the shell completions and the man page are all made from what it
// registers (help.go), so they cannot drift apart.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/capfd/capfd/broker/notify/launch"
)

// command is one verb of the CLI.
type command struct {
	summary string // one line, for the list of verbs
	// usage is the synopsis after "capfd VERB", e.g. "[flags] [RIGHTS]".
	usage string
	// help writes what --help says between the usage line and the flags;
	// nil for nothing.
	help func(w io.Writer)
	// setup defines the verb's flags on fs and returns the verb itself,
	// which receives the arguments left after the flags and returns the
	// process exit code (exitUsage after usageError for misuse).
	setup func(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int
}

// The exit codes shared by the verbs (capfd run exits with its program's
// status instead); exitCodesHelp documents them.
const (
	exitOK         = 0
	exitFailure    = 1 // an I/O or other error at run time
	exitUsage      = 2 // a bad flag, argument or configuration
	exitNotCapable = 3 // refused by policy: a right is missing, or the broker serves this client nothing
	exitEscape     = 4 // refused: the path escapes from its directory
)

const exitCodesHelp = `exit status:
  0  success
  1  an I/O or other error (no such file, broker unreachable or silent, ...)
  2  usage: a bad flag, argument or configuration
  3  refused by policy: not capable (a right is missing), or the broker
     serves this client nothing
  4  refused: the path escapes from its directory (.., a symlink out)
  capfd run exits with PROG's status instead (126: the sandbox could not
  be set up, 127: PROG could not be executed); capfd rights exits 1 when a
  requested right is unknown to this build, capfd check 1 when no kernel
  backend works.
`

var commands = map[string]command{}

func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("capfd: verb registered twice: " + name)
	}
	commands[name] = c
}

func main() {
	// Before anything else: `capfd run` re-executes this binary as its
	// stage 2, which must confine itself before doing anything.
	launch.MaybeStage2()
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}

func runCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		return runVersion(args[1:], stdout, stderr)
	}
	name := args[0]
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "capfd: unknown command %q\nsee 'capfd --help'\n", name)
		return exitUsage
	}
	fs := newFlagSet(name)
	run := c.setup(fs)
	if code := parseFlags(fs, args[1:], stdout, stderr); code >= 0 {
		return code
	}
	return run(fs.Args(), stdout, stderr)
}

// verbNames returns the verbs in order.
func verbNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: capfd COMMAND [flags] [arguments]\n\n"+
		"Capsicum-style capability file descriptors for Linux: a capability\n"+
		"broker, a launcher that runs unmodified programs in capability mode,\n"+
		"and small clients of a broker.\n\ncommands:\n")
	for _, n := range verbNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nflags:\n  -h, --help     this help\n  --version      the version (capfd version)\n\n")
	fmt.Fprint(w, exitCodesHelp)
	fmt.Fprint(w, "\nEach command's flags: capfd help COMMAND, or capfd COMMAND --help.\n")
}

// newFlagSet returns a FlagSet that reports errors instead of exiting, so
// verbs are testable in-process, and that prints nothing itself:
// parseFlags does.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("capfd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// verbOf is the verb a FlagSet of newFlagSet is for.
func verbOf(fs *flag.FlagSet) string { return strings.TrimPrefix(fs.Name(), "capfd ") }

// parseFlags parses args and maps the outcome to an exit code: 0 after
// writing the verb's help to stdout for -h/--help, exitUsage after a
// one-line error on stderr for a flag mistake, and -1 to mean "carry on".
// Flags are accepted with one dash or two, as the flag package does.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeVerbHelp(stdout, verbOf(fs), fs)
			return exitOK
		}
		return usageError(stderr, verbOf(fs), "%v", err)
	}
	return -1
}

// usageError reports a misuse of verb on one line, with where to read
// more, and returns exitUsage.
func usageError(stderr io.Writer, verb, format string, args ...any) int {
	fmt.Fprintf(stderr, "capfd %s: %s\nsee 'capfd %s --help'\n", verb, fmt.Sprintf(format, args...), verb)
	return exitUsage
}

// failure reports err, which ends verb, and returns exitFailure. The
// library's own "capfd: " prefix is dropped: the verb's says it.
func failure(stderr io.Writer, verb string, err error) int {
	fmt.Fprintf(stderr, "capfd %s: %s\n", verb, strings.TrimPrefix(err.Error(), "capfd: "))
	return exitFailure
}
