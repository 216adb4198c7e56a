// Command openstress reads every file of DIR from G goroutines, ROUNDS
// times, through the os package (so through the Go runtime's netpoller and
// its signals), and checks each read against the file's name: file f<N> holds
// N+1 bytes of the byte N%251. A descriptor that is not the file asked for
// (0 from a lost supervisor reply, say) shows as a mismatch. Prints the
// counts and exits 1 on any mismatch or error.
//
// usage: openstress DIR G ROUNDS
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/capfd/capfd/tests/internal/testprog"
)

func main() {
	args := testprog.Args(3, "DIR G ROUNDS")
	dir, g, rounds := args[0], testprog.Count(args[1], "G"), testprog.Count(args[2], "ROUNDS")
	entries, err := os.ReadDir(dir)
	if err != nil {
		testprog.Fail(2, err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "f") {
			names = append(names, e.Name())
		}
	}
	var reads, mismatches atomic.Int64
	var wg sync.WaitGroup
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for i := range names {
					name := names[(i+w*31+r)%len(names)]
					n, _ := strconv.Atoi(name[1:])
					if err := check(filepath.Join(dir, name), n); err != nil {
						mismatches.Add(1)
						fmt.Fprintln(os.Stderr, "openstress:", err)
					}
					reads.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("reads %d mismatches %d\n", reads.Load(), mismatches.Load())
	if mismatches.Load() != 0 {
		os.Exit(1)
	}
}

func check(name string, n int) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if fd := f.Fd(); fd < 3 {
		return fmt.Errorf("open %s returned fd %d", name, fd)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) != n+1 {
		return fmt.Errorf("read %s: %d bytes, want %d", name, len(b), n+1)
	}
	for _, c := range b {
		if c != byte(n%251) {
			return fmt.Errorf("read %s: wrong content", name)
		}
	}
	return nil
}
