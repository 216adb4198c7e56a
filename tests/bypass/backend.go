package bypass

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Backend is one kernel enforcement mechanism under test.
type Backend interface {
	// Name identifies the backend in test names, the child's environment
	// and the docs table.
	Name() string
	// Available returns nil, or why the backend cannot run here. Return a
	// *MissingFeatureError only when the kernel truly lacks the feature:
	// the suite then skips, naming it; any other error fails the suite.
	Available() error
	// ConfineChild runs in the parent after the child has opened its
	// granted fds and before it attacks (BPF: mark the child's pidfd and
	// grant inodes). release undoes it after the child exits.
	ConfineChild(pid int, g Grants) (release func(), err error)
	// ConfineSelf runs in the child just before the attack (Landlock and
	// seccomp restrict the calling process).
	ConfineSelf(g Grants) error
	// Gaps names the attacks this backend cannot block, with the reason.
	// The suite checks each still succeeds when confined, so the table
	// cannot go stale.
	Gaps() map[string]string
}

// MissingFeatureError says a backend cannot run because the kernel lacks
// Feature.
type MissingFeatureError struct {
	Feature string
	Err     error
}

func (e *MissingFeatureError) Error() string {
	return fmt.Sprintf("%s missing: %v", e.Feature, e.Err)
}

func (e *MissingFeatureError) Unwrap() error { return e.Err }

var (
	registryMu sync.Mutex
	registry   = map[string]Backend{}
)

// Register makes b known to children by its name. Call it from init.
func Register(b Backend) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[b.Name()]; dup {
		panic("bypass: backend " + b.Name() + " registered twice")
	}
	registry[b.Name()] = b
}

// Backends returns the registered backends, sorted by name.
func Backends() []Backend {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Backend, 0, len(registry))
	for _, b := range registry {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

func lookupBackend(name string) (Backend, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	b, ok := registry[name]
	if !ok {
		return nil, errors.New("bypass: no backend named " + name)
	}
	return b, nil
}
