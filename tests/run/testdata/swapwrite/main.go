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
	"sync"

	"github.com/capfd/capfd/tests/internal/testprog"
)

func main() {
	args := testprog.Args(2, "DIR N")
	dir, n := args[0], testprog.Count(args[1], "N")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			tmp := filepath.Join(dir, "l.tmp")
			os.Remove(tmp)
			if err := os.Symlink([]string{"secret", "pub"}[i%2], tmp); err != nil {
				testprog.Fail(1, err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, "l")); err != nil {
				testprog.Fail(1, err)
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
