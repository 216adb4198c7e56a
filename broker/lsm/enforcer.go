//go:build linux

package lsm

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// Options tune Load. The zero value is ready to use.
type Options struct {
	// MaxGrants is the capacity of the grants map, across all sandboxes.
	// Zero means 65536.
	MaxGrants uint32
	// DenialQueue is the capacity of the Denials channel. Denials that
	// find it full are counted (CounterQueueFull) and dropped; enforcement
	// does not depend on anyone reading them. Zero means 1024.
	DenialQueue int
}

// Enforcer is the loaded and attached set of LSM programs and their maps.
// Its methods are safe for concurrent use.
type Enforcer struct {
	coll     *ebpf.Collection
	marks    *ebpf.Map
	grants   *ebpf.Map
	capmode  *ebpf.Map
	ports    *ebpf.Map
	counters *ebpf.Map

	capmodeMu sync.Mutex // serialises SetCapMode and ClearCapMode

	links    []link.Link
	attached []string
	skipped  []string

	reader    *ringbuf.Reader
	denials   chan Denial
	readDone  chan struct{}
	queueFull atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// Load loads capfd's LSM programs and attaches every one whose hook exists
// in this kernel. Hooks the kernel lacks are skipped (see Skipped); a kernel
// without task_alloc or file_open, or without the BPF LSM active, is an error.
//
// Nothing is enforced until a process is marked: unmarked tasks pass every
// hook after a task-storage lookup.
func Load(opts Options) (*Enforcer, error) {
	if err := bpfLSMActive(); err != nil {
		return nil, err
	}
	spec, err := loadCapfd()
	if err != nil {
		return nil, fmt.Errorf("BPF LSM: parse embedded object: %w", err)
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("BPF LSM: load kernel BTF: %w", err)
	}

	var attach, skipped []string
	for name, prog := range spec.Programs {
		// bpf2go keeps the section name: "lsm/<hook>". The program
		// name is the hook name too, which keeps this table-free.
		hook := prog.AttachTo
		if hookInBTF(kernel, hook) {
			attach = append(attach, name)
			continue
		}
		if essentialHooks[hook] {
			return nil, fmt.Errorf("BPF LSM: kernel has no %s hook, which capfd cannot do without", hook)
		}
		skipped = append(skipped, hook)
		delete(spec.Programs, name)
	}
	slices.Sort(attach)
	slices.Sort(skipped)

	// unused_denial only anchors struct denial in BTF for bpf2go; no
	// program reads it, so its .bss map need not exist in the kernel.
	delete(spec.Variables, "unused_denial")
	delete(spec.Maps, ".bss")

	if opts.MaxGrants != 0 {
		spec.Maps["grants"].MaxEntries = opts.MaxGrants
	}
	queue := opts.DenialQueue
	if queue == 0 {
		queue = 1024
	}
	if queue < 0 {
		return nil, fmt.Errorf("BPF LSM: Options.DenialQueue %d is negative", queue)
	}

	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("BPF LSM: load programs: %+v", verr)
		}
		return nil, fmt.Errorf("BPF LSM: load programs: %w", explainLoadError(err))
	}
	e := &Enforcer{
		coll:     coll,
		marks:    coll.Maps["marks"],
		grants:   coll.Maps["grants"],
		capmode:  coll.Maps["capmode"],
		ports:    coll.Maps["ports"],
		counters: coll.Maps["counters"],
		skipped:  skipped,
		denials:  make(chan Denial, queue),
		readDone: make(chan struct{}),
	}
	// Program names are hook names (a test holds them to it).
	e.attached = append(e.attached, attach...)
	if err := e.attach(); err != nil {
		coll.Close()
		return nil, err
	}
	e.reader, err = ringbuf.NewReader(coll.Maps["denials"])
	if err != nil {
		e.detach()
		coll.Close()
		return nil, fmt.Errorf("BPF LSM: open denial ring buffer: %w", err)
	}
	go e.readDenials()
	return e, nil
}

// Attached returns the LSM hooks this enforcer is attached to, sorted.
func (e *Enforcer) Attached() []string { return slices.Clone(e.attached) }

// Skipped returns the hooks capfd has programs for but this kernel lacks,
// sorted. On Linux 6.1 that is file_truncate, whose operations (ftruncate,
// O_TRUNC) path_truncate covers there instead.
func (e *Enforcer) Skipped() []string { return slices.Clone(e.skipped) }

// LinkIDs returns the kernel ids of the attached links, for checking that
// Close really detached them.
func (e *Enforcer) LinkIDs() ([]link.ID, error) {
	ids := make([]link.ID, 0, len(e.links))
	for _, l := range e.links {
		info, err := l.Info()
		if err != nil {
			return nil, fmt.Errorf("BPF LSM: link info: %w", err)
		}
		ids = append(ids, info.ID)
	}
	return ids, nil
}

// Close detaches every program and unloads programs and maps. Marks and
// grants vanish with their maps, so confinement ends for every process.
// Denials is closed once the reader has stopped.
func (e *Enforcer) Close() error {
	e.closeOnce.Do(func() {
		errs := []error{e.detach()}
		errs = append(errs, e.reader.Close())
		<-e.readDone
		e.coll.Close()
		e.closeErr = errors.Join(errs...)
		if e.closeErr != nil {
			e.closeErr = fmt.Errorf("BPF LSM: close: %w", e.closeErr)
		}
	})
	return e.closeErr
}

// attach links every program of e.attached to its hook. Load calls it
// before anything can be marked, so the order of attachment opens no window.
func (e *Enforcer) attach() error {
	for _, hook := range e.attached {
		l, err := link.AttachLSM(link.LSMOptions{Program: e.coll.Programs[hook]})
		if err != nil {
			e.detach()
			return fmt.Errorf("BPF LSM: attach %s: %w", hook, err)
		}
		e.links = append(e.links, l)
	}
	return nil
}

func (e *Enforcer) detach() error {
	var errs []error
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	e.links = nil
	return errors.Join(errs...)
}
