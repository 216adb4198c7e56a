package profile

import (
	"fmt"
	"io"
	"strings"
)

// WriteHelp writes the profiles for `capfd run --help`: the default
// profile's entries, then each named profile's.
func WriteHelp(w io.Writer) {
	fmt.Fprintln(w, "Default profile (unless --no-default-profile):")
	writeEntries(w, DefaultEntries)
	fmt.Fprintln(w, "\nNamed profiles (--profile NAME, repeatable; added to the default profile):")
	for _, p := range Named {
		fmt.Fprintf(w, "  %s: %s\n", p.Name, p.Summary)
		writeEntries(w, p.Entries)
		fmt.Fprintf(w, "    (%s)\n", p.Note)
	}
}

func writeEntries(w io.Writer, entries []Entry) {
	for _, e := range entries {
		fmt.Fprintf(w, "    %-28s %-10s %s\n", e.Path, e.Rights, e.Why)
	}
}

// Markdown is the profiles' section of docs/run.md, between the markers
// (TestDocsMatchTable keeps the two equal).
func Markdown() string {
	var b strings.Builder
	b.WriteString("### The default profile\n\n")
	table(&b, DefaultEntries)
	for _, p := range Named {
		fmt.Fprintf(&b, "\n### `--profile %s`: %s\n\n", p.Name, p.Summary)
		table(&b, p.Entries)
		fmt.Fprintf(&b, "\n%s\n", p.Note)
	}
	return b.String()
}

func table(b *strings.Builder, entries []Entry) {
	b.WriteString("| path | rights | why |\n|---|---|---|\n")
	for _, e := range entries {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", e.Path, e.Rights, strings.ReplaceAll(e.Why, "|", `\|`))
	}
}
