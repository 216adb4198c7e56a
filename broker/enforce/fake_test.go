package enforce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/rights"
)

// fakeEnforcer keeps marks and grants in maps, keyed the way the BPF maps
// are: marks by process (resolved from the pidfd, as the kernel resolves
// it to a task), grants by (sandbox, dev, ino). It lets the connection
// bookkeeping be tested where BPF LSM cannot load; the VM tests check the
// same flow against the real programs.
type fakeEnforcer struct {
	mu        sync.Mutex
	marks     map[int]uint32 // pid → sandbox
	grants    map[uint32]map[inode]fakeGrant
	revoked   []uint32
	failGrant error
	counts    map[string]uint64
	denials   chan lsm.Denial
	closed    bool
}

type fakeGrant struct {
	r     rights.Pair
	isDir bool
}

func newFakeEnforcer() *fakeEnforcer {
	return &fakeEnforcer{
		marks:   make(map[int]uint32),
		grants:  make(map[uint32]map[inode]fakeGrant),
		counts:  make(map[string]uint64),
		denials: make(chan lsm.Denial, 16),
	}
}

// pidOf reads the pid a pidfd refers to from /proc/self/fdinfo.
func pidOf(pidfd int) (int, error) {
	data, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("Pid:")); ok {
			return strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return 0, fmt.Errorf("fd %d is not a pidfd", pidfd)
}

func (f *fakeEnforcer) Mark(pidfd int, sandbox uint32) error {
	pid, err := pidOf(pidfd)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marks[pid] = sandbox
	return nil
}

func (f *fakeEnforcer) SandboxOf(pidfd int) (uint32, error) {
	pid, err := pidOf(pidfd)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.marks[pid], nil
}

func (f *fakeEnforcer) markOf(pid int) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.marks[pid]
}

func (f *fakeEnforcer) Grant(sandbox uint32, dev, ino uint64, r rights.Pair, isDir bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failGrant != nil {
		return f.failGrant
	}
	if f.grants[sandbox] == nil {
		f.grants[sandbox] = make(map[inode]fakeGrant)
	}
	f.grants[sandbox][inode{dev, ino}] = fakeGrant{r, isDir}
	return nil
}

func (f *fakeEnforcer) grantsOf(sandbox uint32) map[inode]fakeGrant {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[inode]fakeGrant)
	for k, v := range f.grants[sandbox] {
		out[k] = v
	}
	return out
}

func (f *fakeEnforcer) RevokeSandbox(sandbox uint32) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.grants[sandbox])
	delete(f.grants, sandbox)
	f.revoked = append(f.revoked, sandbox)
	return n, nil
}

func (f *fakeEnforcer) Denials() <-chan lsm.Denial { return f.denials }

func (f *fakeEnforcer) Counts() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]uint64)
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

func (f *fakeEnforcer) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("closed twice")
	}
	f.closed = true
	close(f.denials)
	return nil
}
