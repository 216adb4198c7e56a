package broker

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"golang.org/x/sys/unix"
)

// The broker must never run out of threads: the Go runtime cannot fail a
// thread creation softly, it aborts the process ("runtime/cgo:
// pthread_create failed", "thread exhaustion"), and every client loses its
// connection. The threads a broker can pin at once are bounded by
// construction (see blocking.go): one per blocking slot, plus at most one
// per connection's reader, plus the runtime's own. fitThreads makes the
// two ceilings above that bound agree with it.

// threadReserve is what the broker needs besides its blocked requests:
// the Ps' threads, sysmon, the template thread, a reader or two caught in
// a short system call, the metrics server.
func threadReserve() int { return 2*runtime.GOMAXPROCS(0) + 32 }

// maxBlockingTotal bounds Limits.MaxBlockingTotal: far below the
// runtime's default 10,000-thread ceiling, and more requests blocked at
// once than any sane deployment waits on.
const maxBlockingTotal = 4096

// fitThreads lowers MaxBlockingTotal (and, if need be, MaxClients) so that
// MaxBlockingTotal + MaxClients fit what RLIMIT_NPROC leaves room for, and
// raises the runtime's thread ceiling (never lowers it) to what the limits
// may need. It returns a note for the log when it changed a limit.
func (l *Limits) fitThreads() (note string) {
	if budget, ok := nprocBudget(); ok && l.MaxBlockingTotal+l.MaxClients > budget {
		budget = max(budget, 2)
		total, clients := l.MaxBlockingTotal, l.MaxClients
		l.MaxClients = min(l.MaxClients, budget/2)
		l.MaxBlockingTotal = min(l.MaxBlockingTotal, budget-l.MaxClients)
		note = fmt.Sprintf("RLIMIT_NPROC leaves room for %d more threads: max blocking requests lowered from %d to %d, max clients from %d to %d",
			budget, total, l.MaxBlockingTotal, clients, l.MaxClients)
	}
	need := l.MaxBlockingTotal + l.MaxClients + threadReserve()
	if prev := debug.SetMaxThreads(need); prev > need {
		debug.SetMaxThreads(prev)
	}
	return note
}

// nprocBudget returns how many more threads RLIMIT_NPROC lets this process
// make, less the reserve; ok is false when the limit does not apply. The
// kernel counts every task of the real user against it, so other
// processes of the same user can still use up the room: run the broker as
// a user of its own.
func nprocBudget() (int, bool) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return 0, false
	}
	if os.Getuid() == 0 && initialUserNamespace() {
		// The kernel exempts the initial namespace's root (and
		// CAP_SYS_RESOURCE, which this does not look for: assuming the
		// limit applies when it does not only lowers a cap).
		return 0, false
	}
	return int(min(lim.Cur, 1<<20)) - ownThreads() - threadReserve(), true
}

func initialUserNamespace() bool {
	m, err := os.ReadFile("/proc/self/uid_map")
	f := bytes.Fields(m)
	return err == nil && len(f) == 3 && string(f[0]) == "0" && string(f[1]) == "0" && string(f[2]) == "4294967295"
}

// ownThreads is this process's thread count (Threads: in /proc/self/status).
func ownThreads() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(status, []byte("\nThreads:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	n, _ := strconv.Atoi(string(bytes.TrimSpace(line)))
	return n
}
