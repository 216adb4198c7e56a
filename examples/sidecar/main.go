// Command sidecar is a client of a capfd broker running as a sidecar: it
// reaches files only through the directory the broker grants it, with the
// rights the broker's policy gives its identity (see sidecar.yaml: root
// may write, nobody may only read). It never opens a path itself.
//
// Usage:
//
//	sidecar -socket PATH [-grant shared] rights
//	sidecar -socket PATH [-grant shared] ls
//	sidecar -socket PATH [-grant shared] get NAME
//	sidecar -socket PATH [-grant shared] put NAME CONTENT
//
// Exit status: 0 on success, 3 if the broker refused the operation for
// lack of rights (capfd.ErrNotCapable), 1 on any other error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/capfd/capfd/capfd"
)

func main() {
	socket := flag.String("socket", "/run/capfd/sidecar.sock", "the broker's socket")
	grant := flag.String("grant", "shared", "the granted directory to work in")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: sidecar [flags] rights | ls | get NAME | put NAME CONTENT")
		flag.PrintDefaults()
	}
	flag.Parse()

	out, err := run(*socket, *grant, flag.Args())
	fmt.Print(out)
	switch {
	case errors.Is(err, errUsage):
		flag.Usage()
		os.Exit(1)
	case errors.Is(err, capfd.ErrNotCapable):
		fmt.Fprintf(os.Stderr, "sidecar: %v\n", err)
		os.Exit(3)
	case err != nil:
		fmt.Fprintf(os.Stderr, "sidecar: %v\n", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(socket, grant string, args []string) (string, error) {
	if len(args) == 0 {
		return "", errUsage
	}
	// The broker identifies this process by its kernel credentials when
	// it connects, and answers the handshake with the grants its policy
	// gives that identity.
	remote, err := capfd.Dial(socket)
	if err != nil {
		return "", fmt.Errorf("connecting to the broker: %w", err)
	}
	defer remote.Close()
	dir, err := remote.Dir(grant)
	if err != nil {
		return "", fmt.Errorf("grant %q (granted: %v): %w", grant, remote.Roots(), err)
	}
	defer dir.Close()

	switch {
	case args[0] == "rights" && len(args) == 1:
		r := dir.Rights()
		return fmt.Sprintf("%s: base %v; inherit %v\n", grant, r.Base, r.Inherit), nil
	case args[0] == "ls" && len(args) == 1:
		entries, err := dir.ReadDir(".")
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, e := range entries {
			fmt.Fprintln(&b, e.Name())
		}
		return b.String(), nil
	case args[0] == "get" && len(args) == 2:
		data, err := dir.ReadFile(args[1])
		return string(data), err
	case args[0] == "put" && len(args) == 3:
		return "", dir.WriteFile(args[1], []byte(args[2]), 0o644)
	}
	return "", errUsage
}
