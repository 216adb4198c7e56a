package bypass

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/seccomp"
	"golang.org/x/sys/unix"
)

// benchReport is what the bench child measured, in ns per open+close of a
// file in the granted directory, each stage in the same process.
type benchReport struct {
	Unconfined      float64 `json:"unconfined"`
	UnconfinedAgain float64 `json:"unconfined_again"` // the noise floor: same state, measured twice
	BesideConfined  float64 `json:"beside_confined"` // still unconfined, while a confined sibling lives
	Landlock        float64 `json:"landlock"`
	LandlockSeccomp float64 `json:"landlock_seccomp"`
	Error           string  `json:"error,omitempty"`
}

func openCloseNs(path string) (float64, error) {
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				failed = err
				b.FailNow()
			}
			unix.Close(fd)
		}
	})
	if failed != nil {
		return 0, fmt.Errorf("open %s: %w", path, failed)
	}
	return float64(r.T.Nanoseconds()) / float64(r.N), nil
}

// benchChild measures the stages in order; confinement only ever tightens,
// so the unconfined numbers come first.
func benchChild(e *Env) benchReport {
	var r benchReport
	fail := func(err error) benchReport { r.Error = err.Error(); return r }
	var err error
	// The first run pays for cold caches and runtime start-up: discard it.
	if _, err = openCloseNs(e.RO); err != nil {
		return fail(err)
	}
	if r.Unconfined, err = openCloseNs(e.RO); err != nil {
		return fail(err)
	}
	if r.UnconfinedAgain, err = openCloseNs(e.RO); err != nil {
		return fail(err)
	}

	hold := helperCommand(e, e.Helper, roleHold, nil)
	stdin, err := hold.StdinPipe()
	if err != nil {
		return fail(err)
	}
	stdout, err := hold.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	hold.Stderr = os.Stderr
	if err := hold.Start(); err != nil {
		return fail(fmt.Errorf("start confined sibling: %w", err))
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		hold.Process.Kill()
		hold.Wait()
		return fail(fmt.Errorf("confined sibling: %q, %v", line, err))
	}
	r.BesideConfined, err = openCloseNs(e.RO)
	stdin.Close()
	if werr := hold.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("confined sibling: %w", werr)
	}
	if err != nil {
		return fail(err)
	}

	g := e.Grants()
	lg := make([]landlock.Grant, len(g))
	for i, x := range g {
		lg[i] = landlock.Grant{Path: x.Path, Rights: x.Rights}
	}
	if _, err := landlock.Restrict(lg); err != nil {
		return fail(err)
	}
	if r.Landlock, err = openCloseNs(e.RO); err != nil {
		return fail(err)
	}
	if _, err := (seccomp.Filter{Default: seccomp.Allow, Rules: seccomp.RulesFor(g.Union())}).Install(); err != nil {
		return fail(err)
	}
	if r.LandlockSeccomp, err = openCloseNs(e.RO); err != nil {
		return fail(err)
	}
	return r
}

// holdChild confines itself like the landlock+seccomp backend, says "held",
// and lives until its stdin closes.
func holdChild(e *Env) int {
	if err := (LandlockSeccomp{}).ConfineSelf(e.Grants()); err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		return 1
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	return 0
}
