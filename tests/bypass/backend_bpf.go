//go:build linux

package bypass

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/capfd/capfd/broker/lsm"
)

func init() { Register(BPFLSM) }

// BPFLSM is the kernel layer on kernels with BPF LSM: the parent (the
// broker's role) marks the child through its pidfd and grants the fixture's
// inodes to the child's sandbox; the child does nothing itself. The programs
// are loaded on first use and stay loaded until Close.
var BPFLSM = &bpfBackend{}

type bpfBackend struct {
	mu       sync.Mutex
	enforcer *lsm.Enforcer
	sandbox  atomic.Uint32
}

func (*bpfBackend) Name() string { return "bpf-lsm" }

// Available reports a kernel that cannot run BPF LSM as a missing feature:
// on a kernel that refuses BPF trampolines (this project's development
// host) or boots without "bpf" in lsm=, there is nothing to test.
func (*bpfBackend) Available() error {
	if err := lsm.Probe(); err != nil {
		return &MissingFeatureError{Feature: "BPF LSM", Err: err}
	}
	return nil
}

func (b *bpfBackend) load() (*lsm.Enforcer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.enforcer == nil {
		e, err := lsm.Load(lsm.Options{})
		if err != nil {
			return nil, err
		}
		b.enforcer = e
	}
	return b.enforcer, nil
}

// ConfineChild gives the child a sandbox of its own holding the grants,
// then marks it. Grants come first: a marked child with no grants yet
// would be refused everything, which is safe but not what is tested.
func (b *bpfBackend) ConfineChild(pid int, g Grants) (func(), error) {
	e, err := b.load()
	if err != nil {
		return nil, err
	}
	sandbox := b.sandbox.Add(1)
	release := func() { e.RevokeSandbox(sandbox) }
	for _, x := range g {
		if err := e.GrantPath(sandbox, x.Path, x.Rights); err != nil {
			release()
			return nil, fmt.Errorf("bpf-lsm: %w", err)
		}
	}
	if err := e.MarkPID(pid, sandbox); err != nil {
		release()
		return nil, fmt.Errorf("bpf-lsm: %w", err)
	}
	// The child's mark goes with the child; its grants go here.
	return release, nil
}

// ConfineSelf has nothing to do: the parent confined the child already.
func (*bpfBackend) ConfineSelf(Grants) error { return nil }

// Gaps of the BPF LSM backend: none in the catalogue. Every attack reaches
// a hook that judges the object actually reached (docs/kernel-enforcement.md
// names the hook per attack).
func (*bpfBackend) Gaps() map[string]string { return map[string]string{} }

// Close unloads the programs, if they were loaded.
func (b *bpfBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.enforcer == nil {
		return nil
	}
	err := b.enforcer.Close()
	b.enforcer = nil
	return err
}
