package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/capfd/capfd/rights"
)

func init() {
	register("rights", command{
		summary: "list the rights this build supports, or answer a request for rights (statx-style)",
		run:     runRights,
	})
}

// runRights with no argument lists every right with its bit; with an
// argument it parses it and answers which of the requested rights this build
// supports, the way a broker answers a client's handshake.
func runRights(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rights", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: capfd rights [-json] [RIGHTS]\n\nRIGHTS is a list such as \"read,write\", \"ro\", \"rw,-unlink\" or \"0x...\".")
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	if fs.NArg() == 0 {
		return listRights(stdout, *asJSON)
	}
	requested, err := rights.Parse(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "capfd rights: %v\n", err)
		return 2
	}
	answer := rights.Query(requested)
	if *asJSON {
		return writeJSON(stdout, stderr, answer)
	}
	fmt.Fprintf(stdout, "requested: %v\nsupported: %v\n", answer.Requested, answer.Supported)
	if !answer.Complete() {
		fmt.Fprintf(stdout, "unknown:   %v (not supported by this build)\n", answer.Unknown)
		return 1
	}
	return 0
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
