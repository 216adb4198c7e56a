package notify

import (
	"errors"
	"fmt"
	"github.com/capfd/capfd/broker/capmode"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// Config configures a Supervisor.
type Config struct {
	// Grants are the only paths the supervised program can reach.
	Grants []Grant
	// Log receives one "not capable" line per refused request; nil means
	// os.Stderr, io.Discard silences it.
	Log io.Writer
	// Verbose also logs refused probes (stat, access, readlink, statfs) of
	// paths outside every grant. Shells and loaders probe many such paths
	// ($PATH search, optional config files), so by default only refused
	// opens and changes are logged.
	Verbose bool
	// Ambient is what capability mode gives back beyond files; the
	// supervisor decides Unix-socket addresses by it (ops_socket_linux.go).
	Ambient capmode.Policy
	// Report, if set, receives every refusal (probes included, and
	// whether a path outside every grant exists at all) instead of the
	// log: capfd run's diagnostics. It is called from the serving
	// threads, concurrently, and must not block.
	Report func(Refusal)
	// Learn, if set, receives what every request decided on a path
	// needed (learn.go); like Report, it is called concurrently.
	Learn func(Need)
}

// Supervisor answers the path syscalls of a program confined by a seccomp
// filter whose path syscalls return SECCOMP_RET_USER_NOTIF. See doc.go for
// the design and its security argument.
type Supervisor struct {
	grants  *grantTable
	log     io.Writer
	logMu   sync.Mutex
	verbose bool
	ambient capmode.Policy
	// standins is the store of O_PATH stand-ins (standin_linux.go); nil
	// where none could be made.
	standins *standins
	reporter func(Refusal)
	learner  func(Need)

	// fifoWaits counts the FIFO opens waiting for their other end
	// (fifo_linux.go), bounded by maxFifoWaits.
	fifoWaits atomic.Int32

	// Counters, for tests and reports.
	handled atomic.Uint64
	refused atomic.Uint64
}

// New opens the grants. The caller must Close the Supervisor.
func New(cfg Config) (*Supervisor, error) {
	t, err := openGrants(cfg.Grants)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = os.Stderr
	}
	// The hardened procfs handle vfsops reopens through is opened once, on
	// first use. Open it now, with the supervisor's own credentials:
	// under a task's, the best kinds (which need CAP_SYS_ADMIN) would be
	// refused and a lesser one kept for good.
	_, _ = vfsops.ProcfsMode()
	return &Supervisor{grants: t, log: log, verbose: cfg.Verbose, ambient: cfg.Ambient, standins: openStandins(t), reporter: cfg.Report, learner: cfg.Learn}, nil
}

// Close releases the grant descriptors.
func (s *Supervisor) Close() error {
	s.grants.close()
	s.standins.close()
	return nil
}

// Stats reports how many notifications were answered and how many of them
// were refused for want of a capability.
func (s *Supervisor) Stats() (handled, refused uint64) {
	return s.handled.Load(), s.refused.Load()
}

// Serve answers notifications from listener until no task uses the filter
// any more (the listener reports POLLHUP), then returns nil. It does not
// close listener.
//
// A worker goroutine, locked to its thread, receives and answers in turn:
// the notification round trip is dominated by two wake-ups, and handing
// each request to another goroutine would add a third. A request that
// blocks (opening a FIFO waits for its other end, which another task may be
// about to open through us) must not stall the rest: opens are probed
// without blocking and FIFO waits finished without a thread (openIn); on
// Linux 6.6+ a watchdog also adds a worker when every worker has been busy
// too long on anything else (servePool).
func (s *Supervisor) Serve(listener int) (err error) {
	// The thread takes on the tasks' credentials (asCaller): it is
	// unlocked only if it has its own again, else it ends with the
	// goroutine.
	runtime.LockOSThread()
	defer func() {
		if !errors.Is(err, errTainted) {
			runtime.UnlockOSThread()
		}
	}()

	if !forceLegacyServe && setSyncWakeUp(listener) == nil {
		// Linux 6.6+: the receive waits on the filter's wait queue, so the
		// synchronous wake-up applies to it, and it returns ENOENT once no
		// task uses the filter any more. Block in the receive itself: one
		// system call per notification instead of poll + receive.
		return s.servePool(listener)
	}
	c := &call{s: s, listener: listener}
	defer c.closeCaches()
	pfd := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	for {
		pfd[0].Revents = 0
		if _, err := unix.Poll(pfd, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("notify: poll: %w", err)
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			if pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return nil
			}
			continue
		}
		if err := recv(listener, &c.req); err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
				// ENOENT: the task was killed between the wake-up and
				// the receive; nothing is waiting for an answer.
				continue
			}
			return fmt.Errorf("notify: receive: %w", err)
		}
		c.handle()
		if c.cred.tainted {
			return errTainted
		}
	}
}

// errTainted stops a worker whose thread could not restore its own
// credentials after acting for a task (see restore).
var errTainted = errors.New("notify: a supervisor thread could not restore its credentials")

// filterOrphaned reports whether the listener's filter has no users left.
func filterOrphaned(listener int) (bool, error) {
	pfd := []unix.PollFd{{Fd: int32(listener)}}
	for {
		_, err := unix.Poll(pfd, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("notify: poll: %w", err)
		}
		return pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0, nil
	}
}

// forceLegacyServe makes Serve use the poll loop of kernels before 6.6, so
// tests cover it on newer ones.
var forceLegacyServe bool

// report counts a refusal and hands it to Config.Report, or logs it
// (probes only when verbose).
func (s *Supervisor) report(r Refusal) {
	s.refused.Add(1)
	if s.reporter != nil {
		if r.Outside && !r.creates && !strings.HasPrefix(r.Path, "/proc/") {
			r.Absent = !vfsops.ExistsAmbient(r.Path)
		}
		s.reporter(r)
		return
	}
	if !r.Probe || s.verbose {
		s.logf("%s", r)
	}
}

// logf writes one line to the log.
func (s *Supervisor) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.log, format+"\n", args...)
}

// Union is every right any grant carries, for the filter's by-number
// refusals (Filter).
func (s *Supervisor) Union() rights.Rights { return s.grants.union() }

// RightsAt returns the rights the grants give the object at the absolute
// path abs, matched by name as requests are: the base rights of a grant of
// abs itself, else the inherit rights of the nearest granted ancestor;
// false when no grant that exists covers abs.
func (s *Supervisor) RightsAt(abs string) (rights.Rights, bool) {
	g, rest := s.grants.match(path.Clean(abs))
	if g == nil || g.fd < 0 {
		return 0, false
	}
	return g.Rights.Object(rest == "."), true
}

// Grants returns the grants that exist on this system (missing optional
// ones left out), for the other kernel layers (Landlock, BPF LSM).
func (s *Supervisor) Grants() []Grant {
	var out []Grant
	for _, g := range s.grants.grants {
		if g.fd >= 0 {
			out = append(out, g.Grant)
		}
	}
	return out
}
