package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/capfd/capfd/capfd"
)

// The client verbs: small, scriptable views of what a broker grants, and a
// way to test a policy from the shell.
func init() {
	register("ls", command{summary: "list a directory through a broker: ls --socket S ROOT[/PATH]", run: clientVerb("ls", runLs)})
	register("cat", command{summary: "print a file through a broker: cat --socket S ROOT/PATH", run: clientVerb("cat", runCat)})
	register("stat", command{summary: "stat a path through a broker: stat --socket S ROOT[/PATH]", run: clientVerb("stat", runStat)})
}

// clientVerb parses the common flags, connects, opens the root the
// argument names and hands the verb the Dir and the path beneath it.
func clientVerb(name string, run func(d *capfd.Dir, path string, stdout io.Writer) error) func([]string, io.Writer, io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		fs := newFlagSet(name, stderr)
		socket := fs.String("socket", os.Getenv("CAPFD_BROKER_SOCKET"), "the broker's socket (default $CAPFD_BROKER_SOCKET, else the descriptor in $"+capfd.EnvBrokerFD+")")
		fs.Usage = func() {
			fmt.Fprintf(stderr, "usage: capfd %s --socket SOCKET ROOT[/PATH]\n\nROOT is the name of a directory the broker grants (capfd ls --socket S lists them).\n", name)
			fs.PrintDefaults()
		}
		if code := parseFlags(fs, args); code >= 0 {
			return code
		}
		if fs.NArg() > 1 || name != "ls" && fs.NArg() != 1 {
			fs.Usage()
			return 2
		}
		var r *capfd.Remote
		var err error
		if *socket != "" {
			r, err = capfd.Dial(*socket)
		} else {
			r, err = capfd.FromEnv()
		}
		if err != nil {
			fmt.Fprintf(stderr, "capfd %s: %v\n", name, err)
			return 1
		}
		defer r.Close()
		if fs.NArg() == 0 {
			for _, root := range r.Roots() {
				fmt.Fprintln(stdout, root+"/")
			}
			return 0
		}
		root, path, _ := strings.Cut(strings.TrimPrefix(fs.Arg(0), "/"), "/")
		if path == "" {
			path = "."
		}
		d, err := r.Dir(root)
		if err != nil {
			fmt.Fprintf(stderr, "capfd %s: %v\n", name, err)
			return 1
		}
		defer d.Close()
		if err := run(d, path, stdout); err != nil {
			fmt.Fprintf(stderr, "capfd %s: %v\n", name, err)
			if errors.Is(err, capfd.ErrNotCapable) {
				return 3
			}
			return 1
		}
		return 0
	}
}

func runLs(d *capfd.Dir, path string, stdout io.Writer) error {
	entries, err := d.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		suffix := ""
		if e.IsDir() {
			suffix = "/"
		}
		fmt.Fprintln(stdout, e.Name()+suffix)
	}
	return nil
}

func runCat(d *capfd.Dir, path string, stdout io.Writer) error {
	f, err := d.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(stdout, f)
	return err
}

func runStat(d *capfd.Dir, path string, stdout io.Writer) error {
	fi, err := d.Lstat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "name: %s\nsize: %d\nmode: %v\nmodified: %s\n", fi.Name(), fi.Size(), fi.Mode(), fi.ModTime().UTC().Format("2006-01-02T15:04:05.000000000Z"))
	return nil
}
