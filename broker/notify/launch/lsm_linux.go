package launch

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/capfd/capfd/broker/capmode"
	"github.com/capfd/capfd/broker/lsm"
	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// markForLSM confines the program with the BPF LSM as well, where the kernel
// has it (lsm.Probe), and returns the enforcer (nil if not used). Not
// reachable on hosts whose kernel refuses BPF trampoline programs; there
// Landlock and seccomp are the kernel layers.
//
// It runs while stage 2 waits for the go-ahead, so the mark is in place
// before the program's execve: the mark lives in the task and survives
// exec, and everything the program forks inherits it.
//
// In kernel mode (view) the program also looks up, stats and reads the
// view's own objects natively, which no grant names: they are granted to
// the sandbox as Landlock allows them (viewGrants).
func markForLSM(pid int, sup *notify.Supervisor, opts *Options, view bool) *lsm.Enforcer {
	log := opts.log()
	if err := lsm.Probe(); err != nil {
		if opts.Verbose {
			fmt.Fprintf(log, "capfd run: BPF LSM not used: %v\n", err)
		}
		return nil
	}
	enf, err := lsm.Load(lsm.Options{})
	if err != nil {
		fmt.Fprintf(log, "capfd run: warning: BPF LSM: %v\n", err)
		return nil
	}
	const sandbox = 1
	grants := sup.Grants()
	for _, g := range grants {
		if err := enf.GrantPath(sandbox, g.Path, g.Rights); err != nil {
			fmt.Fprintf(log, "capfd run: warning: BPF LSM grant %s: %v\n", g.Path, err)
		}
	}
	if view {
		for _, g := range viewGrants(pid) {
			if err := enf.GrantPath(sandbox, g.Path, g.Rights); err != nil {
				fmt.Fprintf(log, "capfd run: warning: BPF LSM grant %s: %v\n", g.Path, err)
			}
		}
	}
	// Capability mode before the mark: the program never runs marked
	// without it.
	if err := enf.SetCapMode(sandbox, capMode(opts.Ambient)); err != nil {
		fmt.Fprintf(log, "capfd run: warning: BPF LSM: %v\n", err)
		enf.Close()
		return nil
	}
	// The child has not been waited for, so its pid cannot be reused.
	if err := enf.MarkPID(pid, sandbox); err != nil {
		fmt.Fprintf(log, "capfd run: warning: BPF LSM mark: %v\n", err)
		enf.Close()
		return nil
	}
	if opts.Verbose {
		fmt.Fprintf(log, "capfd run: BPF LSM: marked pid %d (sandbox %d, %d grants, %d hooks attached; capability mode: %v)\n",
			pid, sandbox, len(grants), len(enf.Attached()), opts.Ambient)
	}
	// The programs stay attached until Run closes the enforcer, once the
	// tree is gone.
	return enf
}

// capMode is the BPF LSM's part of capability mode for p: the signal and
// socket hooks decide what seccomp's socket rules and Landlock's TCP ports
// and scopes decide, as a second layer (and the only one for TCP ports and
// signals where Landlock is older than ABI 4 and 6).
func capMode(p capmode.Policy) lsm.CapMode {
	return lsm.CapMode{
		ConnectTCP: p.ConnectTCP,
		BindTCP:    p.BindTCP,
		Net:        p.Net,
		Abstract:   p.Abstract,
		Signal:     p.Signal,
	}
}

// denialCounts formats the non-zero per-hook denial counters, sorted by
// hook, e.g. "file_open=2 mmap_file=1"; "none" if there are none. The
// counters are bumped by the hooks themselves, before the refused call
// returns, so unlike the Denials stream they are complete once the tree is
// gone.
func denialCounts(counts map[string]uint64) string {
	var parts []string
	for _, hook := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[hook]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", hook, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// viewGrants are the BPF LSM's grants of the view's own objects (the
// brokered mode answers for them in the supervisor), named through stage
// 2's root (/proc/PID/root), since they exist in its mount namespace only:
//   - the view's root tmpfs, whose directories and symlinks (the skeleton,
//     /dev's links) are looked up, stat'ed and read as links, never opened
//     for reading (as the brokered mode's skeleton);
//   - its procfs, read-only (procGrant, Landlock's rule for it);
//   - the files the standard descriptors read, read-only (stdioGrants).
func viewGrants(pid int) []notify.Grant {
	root := fmt.Sprintf("/proc/%d/root", pid)
	skeleton := rights.Lookup | rights.Stat | rights.Readlink
	out := []notify.Grant{
		{Path: root, Rights: rights.Uniform(skeleton)},
		{Path: root + procGrant.Path, Rights: procGrant.Rights},
	}
	for fd := 0; fd <= 2; fd++ {
		if vfsops.TaskReadsFile(pid, fd) {
			out = append(out, notify.Grant{Path: fmt.Sprintf("/proc/%d/fd/%d", pid, fd), Rights: rights.Pair{Base: rights.Read}})
		}
	}
	return out
}
