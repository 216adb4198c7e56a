// Command swapwrite races two goroutines: one keeps swapping DIR/l between
// symlinks to "secret" and "pub" (an atomic rename over it), the other keeps
// writing "pwned" to DIR/l/key. Prints how many writes succeeded.
//
// usage: swapwrite DIR N
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: swapwrite DIR N")
		os.Exit(2)
	}
	dir := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		os.Exit(2)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			tmp := filepath.Join(dir, "l.tmp")
			os.Remove(tmp)
			if err := os.Symlink([]string{"secret", "pub"}[i%2], tmp); err != nil {
				fmt.Fprintln(os.Stderr, "swapwrite:", err)
				os.Exit(1)
			}
			if err := os.Rename(tmp, filepath.Join(dir, "l")); err != nil {
				fmt.Fprintln(os.Stderr, "swapwrite:", err)
				os.Exit(1)
			}
		}
	}()
	writes := 0
	go func() {
		defer wg.Done()
		for range n {
			if err := os.WriteFile(filepath.Join(dir, "l", "key"), []byte("pwned\n"), 0o644); err == nil {
				writes++
			}
		}
	}()
	wg.Wait()
	fmt.Println("writes", writes)
}
