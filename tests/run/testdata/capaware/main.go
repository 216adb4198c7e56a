// Command capaware is a capability-aware program: it asks the broker that
// `capfd run` connected it to (CAPFD_BROKER_FD) for its first root and
// prints the file named by its argument, read through that capability.
package main

import (
	"fmt"
	"os"

	"github.com/capfd/capfd/capfd"
)

func main() {
	r, err := capfd.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "capaware:", err)
		os.Exit(1)
	}
	defer r.Close()
	roots := r.Roots()
	if len(roots) == 0 {
		fmt.Fprintln(os.Stderr, "capaware: no roots")
		os.Exit(1)
	}
	d, err := r.Dir(roots[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "capaware:", err)
		os.Exit(1)
	}
	b, err := d.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "capaware:", err)
		os.Exit(1)
	}
	fmt.Print(string(b))
}
