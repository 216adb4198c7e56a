// Package testprog holds what the small programs that the end-to-end tests
// build and run share: reading their arguments, and exiting with a usage
// line or an error in the one way the tests expect. A program is named by
// the base of its os.Args[0], as the tests build it.
//
// Exit 2 means the program could not start its work (bad usage, a setup
// step failed); exit 1 is left to each program's own verdict.
package testprog

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Name is the program's name: the base of os.Args[0].
func Name() string { return filepath.Base(os.Args[0]) }

// Args returns the program's arguments when there are exactly n of them;
// with any other number it prints "usage: NAME " + usage on standard error
// and exits 2.
func Args(n int, usage string) []string {
	if len(os.Args) != n+1 {
		fmt.Fprintln(os.Stderr, "usage:", Name(), usage)
		os.Exit(2)
	}
	return os.Args[1:]
}

// Count is s as a positive whole number; anything else is a usage error:
// it prints "NAME: bad " + what and exits 2.
func Count(s, what string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		Fail(2, "bad", what)
	}
	return n
}

// Fail prints "NAME:" and a, as fmt.Println would, on standard error and
// exits with code.
func Fail(code int, a ...any) {
	fmt.Fprintln(os.Stderr, append([]any{Name() + ":"}, a...)...)
	os.Exit(code)
}
