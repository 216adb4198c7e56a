package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// help.go: --help, `capfd help`, the shell completions and the man page,
// all made from what the verbs register (their usage, help text and
// flags), so they say the same thing.

func init() {
	register("help", command{
		summary: "print the help of a command: help [COMMAND]",
		usage:   "[COMMAND]",
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			return runHelpVerb
		},
	})
	register("completion", command{
		summary: "print a shell completion script: completion bash|zsh|fish",
		usage:   "bash|zsh|fish",
		help: func(w io.Writer) {
			fmt.Fprint(w, `Prints a script that completes capfd's commands and their flags.
  bash: source <(capfd completion bash)   (or save it in /etc/bash_completion.d/capfd)
  zsh:  capfd completion zsh > "${fpath[1]}/_capfd"
  fish: capfd completion fish > ~/.config/fish/completions/capfd.fish
`)
		},
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			return runCompletion
		},
	})
	register("man", command{
		summary: "print capfd's man page (roff), made from the same text as --help",
		usage:   "",
		help: func(w io.Writer) {
			fmt.Fprint(w, "Prints capfd(1); docs/capfd.1 is its output: man ./docs/capfd.1\n")
		},
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			return func(args []string, stdout, stderr io.Writer) int {
				if len(args) != 0 {
					return usageError(stderr, "man", "takes no arguments")
				}
				fmt.Fprint(stdout, manPage())
				return exitOK
			}
		},
	})
}

func runHelpVerb(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return exitOK
	case 1:
		if _, ok := commands[args[0]]; !ok {
			return usageError(stderr, "help", "unknown command %q", args[0])
		}
		writeVerbHelp(stdout, args[0], verbFlags(args[0]))
		return exitOK
	}
	return usageError(stderr, "help", "one command at a time")
}

// verbFlags is a FlagSet with verb's flags defined, for its help.
func verbFlags(verb string) *flag.FlagSet {
	fs := newFlagSet(verb)
	commands[verb].setup(fs)
	return fs
}

// writeVerbHelp writes what `capfd VERB --help` prints, fs holding the
// verb's flags.
func writeVerbHelp(w io.Writer, verb string, fs *flag.FlagSet) {
	c := commands[verb]
	synopsis := "capfd " + verb
	if c.usage != "" {
		synopsis += " " + c.usage
	}
	fmt.Fprintf(w, "usage: %s\n\n", synopsis)
	if c.help != nil {
		c.help(w)
	} else {
		fmt.Fprintf(w, "%s.\n", upperFirst(c.summary))
	}
	var flags bytes.Buffer
	printFlags(&flags, fs)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", flags.Bytes())
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// flagName is how help, completion and the man page spell a flag: --name,
// the way the docs write it, or -x for a one-letter one. The flag package
// accepts either number of dashes.
func flagName(f *flag.Flag) string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// printFlags is flag.PrintDefaults in the docs' spelling: each flag as
// flagName gives it, with its argument's name (the usage's `quoted`
// word) and its default when that is not the zero value.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		line := "  " + flagName(f)
		if arg != "" {
			line += " " + arg
		}
		if !isZeroValue(f) {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, strings.ReplaceAll(text, "\n", "\n        "))
	})
}

// isZeroValue reports whether f's default is its type's zero value, which
// help does not print (as the flag package decides it).
func isZeroValue(f *flag.Flag) bool {
	t := reflect.TypeOf(f.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	if v, ok := z.Interface().(flag.Value); ok {
		return f.DefValue == v.String()
	}
	return f.DefValue == ""
}

// flagNames lists verb's flags as flagName spells them.
func flagNames(verb string) []string {
	var out []string
	verbFlags(verb).VisitAll(func(f *flag.Flag) { out = append(out, flagName(f)) })
	return out
}

// takesArg reports whether a flag needs a value (not a boolean).
func takesArg(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		return usageError(stderr, "completion", "want one shell: bash, zsh or fish")
	}
	switch args[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion())
	case "zsh":
		fmt.Fprint(stdout, zshCompletion())
	case "fish":
		fmt.Fprint(stdout, fishCompletion())
	default:
		return usageError(stderr, "completion", "unknown shell %q: want bash, zsh or fish", args[0])
	}
	return exitOK
}

// The arguments each verb completes, beyond its flags.
func completesFiles(verb string) bool {
	switch verb {
	case "help", "completion", "man", "version", "check":
		return false
	}
	return true
}

func bashCompletion() string {
	var b strings.Builder
	b.WriteString(`# bash completion for capfd (capfd completion bash)
_capfd() {
	local cur=${COMP_WORDS[COMP_CWORD]} verb=${COMP_WORDS[1]} flags="" i
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "` + strings.Join(verbNames(), " ") + ` --help --version" -- "$cur"))
		return
	fi
	# After "--", capfd run's own program and its arguments.
	for ((i = 2; i < COMP_CWORD; i++)); do
		if [ "${COMP_WORDS[i]}" = "--" ]; then
			if [ "$i" -eq $((COMP_CWORD - 1)) ]; then
				COMPREPLY=($(compgen -c -- "$cur"))
			else
				COMPREPLY=($(compgen -f -- "$cur"))
			fi
			return
		fi
	done
	case "$verb" in
`)
	for _, v := range verbNames() {
		fmt.Fprintf(&b, "\t%s)\n\t\tflags=%q\n", v, strings.Join(append(flagNames(v), "--help"), " "))
		switch v {
		case "help":
			fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n", strings.Join(verbNames(), " "))
		case "completion":
			b.WriteString("\t\tCOMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\"))\n\t\treturn\n")
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString(`	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -o filenames -F _capfd capfd
`)
	return b.String()
}

// zshQuote quotes s for zsh in single quotes.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func zshCompletion() string {
	var b strings.Builder
	b.WriteString("#compdef capfd\n# zsh completion for capfd (capfd completion zsh)\n_capfd() {\n\tlocal -a verbs flags\n\tverbs=(\n")
	for _, v := range verbNames() {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(v+":"+strings.ReplaceAll(commands[v].summary, ":", `\:`)))
	}
	b.WriteString("\t)\n\tif (( CURRENT == 2 )); then\n\t\t_describe command verbs\n\t\treturn\n\tfi\n\tcase $words[2] in\n")
	for _, v := range verbNames() {
		fmt.Fprintf(&b, "\t%s)\n\t\tflags=(\n", v)
		verbFlags(v).VisitAll(func(f *flag.Flag) {
			_, text := flag.UnquoteUsage(f)
			fmt.Fprintf(&b, "\t\t\t%s\n", zshQuote(flagName(f)+":"+strings.ReplaceAll(firstLine(text), ":", `\:`)))
		})
		b.WriteString("\t\t)\n")
		switch v {
		case "help":
			b.WriteString("\t\t_describe command verbs\n\t\treturn\n")
		case "completion":
			b.WriteString("\t\tcompadd bash zsh fish\n\t\treturn\n")
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString("\tesac\n\tif [[ $PREFIX == -* ]]; then\n\t\t_describe flag flags\n\telse\n\t\t_files\n\tfi\n}\ncompdef _capfd capfd\n")
	return b.String()
}

// fishQuote quotes s for fish in single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString("# fish completion for capfd (capfd completion fish)\ncomplete -c capfd -f\n")
	fmt.Fprintf(&b, "complete -c capfd -n __fish_use_subcommand -l help -d %s\n", fishQuote("the help"))
	fmt.Fprintf(&b, "complete -c capfd -n __fish_use_subcommand -l version -d %s\n", fishQuote("the version"))
	for _, v := range verbNames() {
		fmt.Fprintf(&b, "complete -c capfd -n __fish_use_subcommand -a %s -d %s\n", v, fishQuote(commands[v].summary))
	}
	for _, v := range verbNames() {
		cond := fishQuote("__fish_seen_subcommand_from " + v)
		verbFlags(v).VisitAll(func(f *flag.Flag) {
			_, text := flag.UnquoteUsage(f)
			opt := "-l " + f.Name
			if len(f.Name) == 1 {
				opt = "-s " + f.Name
			}
			req := ""
			if takesArg(f) {
				req = " -r -F"
			}
			fmt.Fprintf(&b, "complete -c capfd -n %s %s%s -d %s\n", cond, opt, req, fishQuote(firstLine(text)))
		})
		switch {
		case v == "help":
			fmt.Fprintf(&b, "complete -c capfd -n %s -a %s\n", cond, fishQuote(strings.Join(verbNames(), " ")))
		case v == "completion":
			fmt.Fprintf(&b, "complete -c capfd -n %s -a 'bash zsh fish'\n", cond)
		case completesFiles(v):
			fmt.Fprintf(&b, "complete -c capfd -n %s -F\n", cond)
		}
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// roff escapes text for a no-fill block of the man page.
func roff(text string) string {
	text = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(text)
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// manPage is capfd(1): the top-level help and every command's --help, as
// they print, in roff.
func manPage() string {
	var b strings.Builder
	b.WriteString(`.\" capfd(1), generated by "capfd man" from the commands' help; do not edit:
.\" regenerate with: go run ./cmd/capfd man > docs/capfd.1
.TH CAPFD 1 "" "capfd" "User Commands"
.SH NAME
capfd \- Capsicum\-style capability file descriptors for Linux
.SH SYNOPSIS
.B capfd
.I COMMAND
[\fIflags\fR] [\fIarguments\fR]
.SH DESCRIPTION
.nf
`)
	var top bytes.Buffer
	usage(&top)
	b.WriteString(roff(strings.TrimRight(top.String(), "\n")))
	b.WriteString("\n.fi\n.SH COMMANDS\n")
	for _, v := range verbNames() {
		var h bytes.Buffer
		writeVerbHelp(&h, v, verbFlags(v))
		fmt.Fprintf(&b, ".SS capfd %s\n.nf\n%s\n.fi\n", roff(v), roff(strings.TrimRight(h.String(), "\n")))
	}
	b.WriteString(`.SH ENVIRONMENT
.TP
.B CAPFD_BROKER_SOCKET
the broker's socket for the client commands (ls, cat, stat) when \-\-socket is not given
.TP
.B CAPFD_BROKER_FD
the descriptor of a broker connection a launcher passed (capfd run does), used when neither is given
.SH SEE ALSO
The documentation in the capfd source tree: README.md, docs/run.md, docs/broker.md,
docs/capability\-mode.md, docs/rights\-model.md.
`)
	return b.String()
}
