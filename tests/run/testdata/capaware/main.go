// Command capaware is a capability-aware program: it asks the broker that
// `capfd run` connected it to (CAPFD_BROKER_FD) for its first root and
// prints the file named by its argument, read through that capability.
//
// capaware -write ROOT PATH instead writes "written\n" over PATH (O_WRONLY|
// O_CREAT|O_TRUNC) through the root named ROOT, and prints "wrote" or the
// error.
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
	if len(os.Args) == 4 && os.Args[1] == "-write" {
		d, err := r.Dir(os.Args[2])
		if err == nil {
			err = d.WriteFile(os.Args[3], []byte("written\n"), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "capaware:", err)
			os.Exit(1)
		}
		fmt.Println("wrote")
		return
	}
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
