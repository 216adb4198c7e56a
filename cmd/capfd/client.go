package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/capfd"
)

// envBrokerSocket names the broker's socket for the client verbs when
// --socket is not given.
const envBrokerSocket = "CAPFD_BROKER_SOCKET"

// defaultTimeout is how long a client verb waits for the broker to answer
// a request (and to connect) before giving up.
const defaultTimeout = 10 * time.Second

// The client verbs: small, scriptable views of what a broker grants, and a
// way to test a policy from the shell.
func init() {
	for _, v := range []struct {
		name, summary, arg string
		run                func(d *capfd.Dir, path string, c *client) error
	}{
		{"ls", "list a directory through a broker", "[ROOT[/PATH]]", runLs},
		{"cat", "print a file through a broker", "ROOT/PATH", runCat},
		{"stat", "stat a path through a broker", "ROOT[/PATH]", runStat},
	} {
		register(v.name, command{
			summary: v.summary + ": " + v.name + " --socket S " + v.arg,
			usage:   "[--socket SOCKET] [--timeout DURATION] " + v.arg,
			help:    clientHelp(v.name),
			setup:   clientVerb(v.name, v.arg, v.run),
		})
	}
}

func clientHelp(name string) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintf(w, `ROOT is the name of a directory the broker grants (capfd ls --socket S
lists them). The broker is the one at --socket, else at $%s,
else the connection a launcher passed in $%s (capfd run does).
A broker that does not answer within --timeout is given up on (exit 1).
Exit status: 3 when the broker refuses (not capable, or no policy for
this client), 4 when the path escapes from ROOT, 1 for other errors.
`, envBrokerSocket, capfd.EnvBrokerFD)
		if name == "ls" {
			fmt.Fprint(w, "Without an argument, ls lists the roots.\n")
		}
	}
}

// client is a client verb's connection and its per-request bound.
type client struct {
	r       *capfd.Remote
	timeout time.Duration // 0: wait for ever
	stdout  io.Writer
}

// next bounds the next request to the broker by the timeout.
func (c *client) next() {
	if c.timeout > 0 {
		c.r.SetDeadline(time.Now().Add(c.timeout))
	}
}

// clientVerb defines the common flags and returns the verb: it connects,
// opens the root the argument names and hands the verb the Dir and the
// path beneath it.
func clientVerb(name, arg string, run func(d *capfd.Dir, path string, c *client) error) func(*flag.FlagSet) func([]string, io.Writer, io.Writer) int {
	return func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
		socket := fs.String("socket", "", "the broker's `SOCKET` (default $"+envBrokerSocket+", else the connection in $"+capfd.EnvBrokerFD+")")
		timeout := fs.Duration("timeout", defaultTimeout, "give up when the broker has not answered a request (or the connection) within `DURATION`; 0 for never")
		return func(args []string, stdout, stderr io.Writer) int {
			if len(args) > 1 || name != "ls" && len(args) != 1 {
				return usageError(stderr, name, "want one argument, %s", arg)
			}
			if *timeout < 0 {
				return usageError(stderr, name, "--timeout %v is negative", *timeout)
			}
			path := *socket
			if path == "" {
				path = os.Getenv(envBrokerSocket)
			}
			if _, passed := os.LookupEnv(capfd.EnvBrokerFD); path == "" && !passed {
				return usageError(stderr, name, "no broker to ask: give --socket SOCKET (or set $%s), or run under a launcher that passes $%s", envBrokerSocket, capfd.EnvBrokerFD)
			}
			ctx := context.Background()
			if *timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, *timeout)
				defer cancel()
			}
			var r *capfd.Remote
			var err error
			if path != "" {
				r, err = capfd.DialContext(ctx, path)
			} else {
				path = "$" + capfd.EnvBrokerFD
				r, err = capfd.FromEnvContext(ctx)
			}
			if err != nil {
				return clientFailure(stderr, name, path, *timeout, err)
			}
			defer r.Close()
			c := &client{r: r, timeout: *timeout, stdout: stdout}
			if len(args) == 0 {
				for _, root := range r.Roots() {
					fmt.Fprintln(stdout, root+"/")
				}
				return exitOK
			}
			root, sub, _ := strings.Cut(strings.TrimPrefix(args[0], "/"), "/")
			if sub == "" {
				sub = "."
			}
			c.next()
			d, err := r.Dir(root)
			if err != nil {
				return clientFailure(stderr, name, path, *timeout, err)
			}
			defer d.Close()
			c.next()
			if err := run(d, sub, c); err != nil {
				return clientFailure(stderr, name, path, *timeout, err)
			}
			return exitOK
		}
	}
}

// clientFailure reports err and returns its exit code: exitEscape,
// exitNotCapable for a policy's refusal, else exitFailure.
func clientFailure(stderr io.Writer, name, socket string, timeout time.Duration, err error) int {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		fmt.Fprintf(stderr, "capfd %s: the broker at %s did not answer within %v (--timeout)\n", name, socket, timeout)
		return exitFailure
	}
	failure(stderr, name, err)
	return exitCodeOf(err)
}

// exitCodeOf is the exit code of a client verb that failed with err.
func exitCodeOf(err error) int {
	var be *capfd.BrokerError
	switch {
	case errors.Is(err, capfd.ErrEscape):
		return exitEscape
	case errors.Is(err, capfd.ErrNotCapable), errors.As(err, &be) && be.Code == wire.CodeRefused:
		return exitNotCapable
	}
	return exitFailure
}

func runLs(d *capfd.Dir, path string, c *client) error {
	entries, err := d.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		suffix := ""
		if e.IsDir() {
			suffix = "/"
		}
		fmt.Fprintln(c.stdout, e.Name()+suffix)
	}
	return nil
}

func runCat(d *capfd.Dir, path string, c *client) error {
	f, err := d.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(c.stdout, readerFunc(func(p []byte) (int, error) {
		c.next() // each read is a request: the bound is per request
		return f.Read(p)
	}))
	return err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func runStat(d *capfd.Dir, path string, c *client) error {
	fi, err := d.Lstat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "name: %s\nsize: %d\nmode: %v\nmodified: %s\n", fi.Name(), fi.Size(), fi.Mode(), fi.ModTime().UTC().Format("2006-01-02T15:04:05.000000000Z"))
	return nil
}
