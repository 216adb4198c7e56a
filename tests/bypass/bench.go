package bypass

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Confinement of a bench server (envBenchMode).
const (
	benchUnconfined      = "unconfined"
	benchLandlock        = "landlock"
	benchLandlockSeccomp = "landlock+seccomp"
	envBenchMode         = "CAPFD_BYPASS_BENCH_MODE"
)

// benchServer confines itself as its mode says, prints "ready", then for
// each "N" line on stdin times N open+close pairs of granted/ro.txt and
// prints the ns per pair. Servers of all modes live side by side and are
// asked in turn, so load on a shared machine hits them all alike.
func benchServer(e *Env) int {
	if err := confineForBench(e, os.Getenv(envBenchMode)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(in.Text()))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad count %q\n", in.Text())
			return 1
		}
		ns, err := timeOpenClose(e.RO, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Println(ns)
	}
	return 0
}

func confineForBench(e *Env, mode string) error {
	switch mode {
	case benchUnconfined:
		return nil
	case benchLandlock:
		return landlockOnlyConfine(e.Grants())
	case benchLandlockSeccomp:
		return LandlockSeccomp{}.ConfineSelf(e.Grants())
	}
	return fmt.Errorf("unknown bench mode %q", mode)
}

func timeOpenClose(path string, n int) (float64, error) {
	start := time.Now()
	for range n {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", path, err)
		}
		unix.Close(fd)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// holdChild confines itself like the landlock+seccomp backend, says "held",
// and lives until its stdin closes: the confined neighbour of an
// unconfined measurement.
func holdChild(e *Env) int {
	if err := (LandlockSeccomp{}).ConfineSelf(e.Grants()); err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		return 1
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	return 0
}
