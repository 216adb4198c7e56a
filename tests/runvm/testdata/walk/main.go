// Command walk is the workload of TestKernelModeUnderBPFLSM: it walks the
// tree beneath its first argument as many times as its second says,
// lstat'ing every entry and reading every file, and prints how many files
// and bytes it saw (the same in every round and mode) and, on a second
// line, how long the walks took in nanoseconds (its own timing: the
// process's start-up is not in it).
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: walk DIR ROUNDS")
		os.Exit(2)
	}
	rounds, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var files, bytes int
	start := time.Now()
	for range rounds {
		files, bytes = 0, 0
		err := filepath.WalkDir(os.Args[1], func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := os.Lstat(p); err != nil {
				return err
			}
			if d.Type().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				files, bytes = files+1, bytes+len(b)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println(files, bytes)
	fmt.Println("ns", time.Since(start).Nanoseconds())
}
