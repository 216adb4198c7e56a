package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/capfd/capfd/rights"
)

func init() {
	register("rights", command{
		summary: "list the rights this build supports, or answer a request for rights (statx-style)",
		usage:   "[flags] [RIGHTS[:INHERIT]]",
		help: func(w io.Writer) {
			fmt.Fprint(w, `RIGHTS is a list such as "read,write", "ro", "rw,-unlink" or "0x...", and
BASE:INHERIT (such as "rw:ro") the pair a grant gives a directory: BASE for
the directory itself, INHERIT the ceiling for everything opened beneath it.
Without an argument, every right this build supports and the groups.
An unknown name is answered with the spelling it most likely means.
`)
		},
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(args []string, stdout, stderr io.Writer) int { return runRights(args, *asJSON, stdout, stderr) }
		},
	})
}

// runRights with no argument lists every right with its bit; with an
// argument it parses it and answers which of the requested rights this build
// supports, the way a broker answers a client's handshake. A BASE:INHERIT
// pair is answered for each half.
func runRights(args []string, asJSON bool, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		return usageError(stderr, "rights", "one list of rights at a time (quote it if it has spaces)")
	}
	if len(args) == 0 {
		return listRights(stdout, asJSON)
	}
	if strings.Contains(args[0], ":") {
		pair, err := rights.ParsePair(args[0])
		if err != nil {
			return usageError(stderr, "rights", "%v", err)
		}
		answers := struct {
			Base    rights.Answer `json:"base"`
			Inherit rights.Answer `json:"inherit"`
		}{rights.Query(pair.Base), rights.Query(pair.Inherit)}
		if asJSON {
			return writeJSON(stdout, stderr, answers)
		}
		fmt.Fprintln(stdout, "base (the directory itself):")
		writeAnswer(stdout, "  ", answers.Base)
		fmt.Fprintln(stdout, "inherit (the ceiling for everything opened beneath it):")
		writeAnswer(stdout, "  ", answers.Inherit)
		if !answers.Base.Complete() || !answers.Inherit.Complete() {
			return exitFailure
		}
		return exitOK
	}
	requested, err := rights.Parse(args[0])
	if err != nil {
		return usageError(stderr, "rights", "%v", err)
	}
	answer := rights.Query(requested)
	if asJSON {
		return writeJSON(stdout, stderr, answer)
	}
	writeAnswer(stdout, "", answer)
	if !answer.Complete() {
		return exitFailure
	}
	return exitOK
}

func writeAnswer(w io.Writer, indent string, a rights.Answer) {
	fmt.Fprintf(w, "%srequested: %v\n%ssupported: %v\n", indent, a.Requested, indent, a.Supported)
	if !a.Complete() {
		fmt.Fprintf(w, "%sunknown:   %v (not supported by this build)\n", indent, a.Unknown)
	}
}

func listRights(stdout io.Writer, asJSON bool) int {
	type entry struct {
		Name string `json:"name"`
		Bit  int    `json:"bit"`
	}
	var list []entry
	for bit := 0; bit < 64; bit++ {
		r := rights.Rights(1) << bit
		if r&rights.All == 0 {
			continue
		}
		list = append(list, entry{Name: r.String(), Bit: bit})
	}
	if asJSON {
		return writeJSON(stdout, io.Discard, list)
	}
	for _, e := range list {
		fmt.Fprintf(stdout, "%2d  %s\n", e.Bit, e.Name)
	}
	fmt.Fprintf(stdout, "\ngroups: ro=%v\n        rx=ro,exec,mmap-exec\n        rw=%v\n        all, none\n", rights.ReadOnly, rights.ReadWrite)
	return 0
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "capfd: %v\n", err)
		return 1
	}
	return 0
}
