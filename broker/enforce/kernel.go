package enforce

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/landlock"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/seccomp"
	"github.com/capfd/capfd/rights"
)

// Backend names, as they appear in the log and in the metrics' labels.
const (
	BackendBPFLSM   = "bpf-lsm"
	BackendLandlock = "landlock"
	BackendSeccomp  = "seccomp"
)

// Backend is what Setup found out about one kernel backend.
type Backend struct {
	Name string
	// Active: for bpf-lsm, its programs are loaded and every client is
	// marked; for landlock and seccomp, the kernel supports them, so
	// `capfd run` confines the programs it starts with them.
	Active bool
	// Detail says what is in use, or why the backend is not.
	Detail string
}

// enforcer is what Kernel needs of a loaded BPF LSM backend: the methods of
// *lsm.Enforcer it calls, so the connection bookkeeping can be tested on
// kernels that refuse BPF LSM.
type enforcer interface {
	Mark(pidfd int, sandbox uint32) error
	SandboxOf(pidfd int) (uint32, error)
	Grant(sandbox uint32, dev, ino uint64, r rights.Pair, isDir bool) error
	RevokeSandbox(sandbox uint32) (int, error)
	Denials() <-chan lsm.Denial
	Counts() map[string]uint64
	Close() error
}

// Kernel is the broker's kernel layer: the backends found at Setup and,
// when BPF LSM loaded, the sandboxes of the clients connected now. Its
// methods are safe for concurrent use (OnConnect runs on every client's
// goroutine).
type Kernel struct {
	mode     Mode
	backends []Backend
	log      *slog.Logger
	audit    *slog.Logger

	lsm         enforcer // nil: no client is confined by the kernel
	denialsDone chan struct{}

	mu        sync.Mutex
	closed    bool
	lastID    uint32
	sandboxes map[uint32]*sandbox // live: at least one connection
	// revoked remembers, for the last maxRevoked revoked sandboxes, the
	// client each was made for: the hooks' denials reach the audit log
	// through a ring buffer, and one made just before the last
	// disconnect can be read just after it.
	revoked      map[uint32]broker.Identity
	revokedOrder []uint32
}

// maxRevoked bounds the revoked sandboxes whose client is remembered.
const maxRevoked = 256

// Setup probes the kernel backends and, unless mode is Off, loads the BPF
// LSM programs when this kernel accepts them. With Require, a kernel
// without BPF LSM is an error; with Auto the broker serves without it.
// log receives which backends are active and why the others are not; audit
// receives every denial the hooks report (nil loggers discard).
func Setup(mode Mode, log, audit *slog.Logger) (*Kernel, error) {
	if mode == Off {
		off := "kernel mode off"
		return start(mode, nil, []Backend{
			{Name: BackendBPFLSM, Detail: off},
			{Name: BackendLandlock, Detail: off},
			{Name: BackendSeccomp, Detail: off},
		}, log, audit), nil
	}

	bpf := Backend{Name: BackendBPFLSM}
	var loaded enforcer
	e, err := loadBPFLSM()
	if err != nil {
		if mode == Require {
			return nil, fmt.Errorf("enforce: kernel mode require: %w", err)
		}
		bpf.Detail = err.Error()
	} else {
		loaded = e
		bpf.Active = true
		bpf.Detail = "every client is marked; hooks attached: " + strings.Join(e.Attached(), ",")
		if skipped := e.Skipped(); len(skipped) > 0 {
			bpf.Detail += "; not in this kernel: " + strings.Join(skipped, ",")
		}
	}

	ll := Backend{Name: BackendLandlock}
	if abi, err := landlock.Probe(); err != nil {
		ll.Detail = err.Error()
	} else {
		ll.Active = true
		ll.Detail = fmt.Sprintf("ABI %d; self-imposed: confines programs started by capfd run, not connecting clients", abi)
	}

	sc := Backend{Name: BackendSeccomp}
	if err := seccomp.Probe(); err != nil {
		sc.Detail = err.Error()
	} else {
		sc.Active = true
		sc.Detail = "self-imposed: confines programs started by capfd run, not connecting clients"
	}

	return start(mode, loaded, []Backend{bpf, ll, sc}, log, audit), nil
}

// loadBPFLSM probes first: Probe explains a refusal (which LSMs are active,
// whether trampolines load) better than a failed Load does.
func loadBPFLSM() (*lsm.Enforcer, error) {
	if err := lsm.Probe(); err != nil {
		return nil, err
	}
	e, err := lsm.Load(lsm.Options{})
	if err != nil {
		return nil, fmt.Errorf("BPF LSM: load: %w", err)
	}
	return e, nil
}

// start assembles a Kernel around a loaded backend (or none), logs what
// it runs with and starts reading denials.
func start(mode Mode, e enforcer, backends []Backend, log, audit *slog.Logger) *Kernel {
	discard := slog.New(slog.DiscardHandler)
	if log == nil {
		log = discard
	}
	if audit == nil {
		audit = discard
	}
	k := &Kernel{
		mode:      mode,
		backends:  backends,
		log:       log,
		audit:     audit,
		lsm:       e,
		sandboxes: make(map[uint32]*sandbox),
	}
	if mode == Off {
		// The operator's choice: said once, not warned about backend by
		// backend.
		log.Info("kernel enforcement of broker clients is off, as configured: clients are confined by the broker alone", "mode", mode.String())
		return k
	}
	for _, b := range backends {
		if b.Active {
			log.Info("kernel backend active", "backend", b.Name, "detail", b.Detail)
		} else {
			log.Warn("kernel backend not active", "backend", b.Name, "reason", b.Detail)
		}
	}
	if e == nil {
		log.Warn("kernel enforcement of broker clients is off: clients are confined by the broker alone", "mode", mode.String())
	} else {
		log.Info("kernel enforcement of broker clients is on", "mode", mode.String(), "backend", BackendBPFLSM)
		k.denialsDone = make(chan struct{})
		go k.logDenials(e.Denials())
	}
	return k
}

// Backends reports what Setup found, bpf-lsm first.
func (k *Kernel) Backends() []Backend { return append([]Backend(nil), k.backends...) }

// Enforcing reports whether connecting clients are confined by the kernel
// (BPF LSM loaded).
func (k *Kernel) Enforcing() bool { return k.lsm != nil }

// Close unloads the BPF LSM programs. Marks and grants live in their maps,
// so every client's kernel confinement ends with the broker: stop serving
// first.
func (k *Kernel) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.mu.Unlock()
	if k.lsm == nil {
		return nil
	}
	err := k.lsm.Close()
	<-k.denialsDone // the channel is closed by the enforcer's Close
	if err != nil {
		return fmt.Errorf("enforce: unload BPF LSM: %w", err)
	}
	return nil
}

// errClosed refuses clients that arrive after Close.
var errClosed = errors.New("enforce: kernel layer closed")
