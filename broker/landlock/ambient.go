package landlock

import (
	"fmt"
	"strings"
	"unsafe"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Ambient is what RestrictThread confines beyond files: TCP ports (ABI 4)
// and the IPC scopes (ABI 6). The kernel decides these on the operation
// itself (the port bound or connected to, the process signalled, the
// domain that created the abstract socket), so they cannot be raced.
type Ambient struct {
	// TCP makes every TCP bind and connect fail but to the ports listed.
	TCP                 bool
	BindTCP, ConnectTCP []uint16
	// ScopeAbstract refuses connecting to abstract Unix sockets bound
	// outside the sandbox; ScopeSignal refuses signals to processes
	// outside it.
	ScopeAbstract, ScopeSignal bool
}

// Minimum ABIs of the ambient restrictions.
const (
	netABI   = 4
	scopeABI = 6
)

// AmbientReport says which of an Ambient the kernel enforces.
type AmbientReport struct {
	TCP, ScopeAbstract, ScopeSignal bool
}

func (r AmbientReport) String() string {
	var on []string
	for _, e := range []struct {
		on   bool
		name string
	}{{r.TCP, "TCP ports"}, {r.ScopeAbstract, "abstract-socket scope"}, {r.ScopeSignal, "signal scope"}} {
		if e.on {
			on = append(on, e.name)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ", ")
}

// ambientAt is what of a the running ABI can enforce. A TCP restriction
// with ports granted that the kernel cannot enforce is an error: the
// caller asked for a rule nothing else can express. (With no port
// granted, the caller's seccomp filter refuses TCP sockets outright.) Scopes it cannot
// enforce are left to the caller's other layers (a PID namespace hides
// outside processes; the supervisor decides abstract connects), and the
// report says they are not the kernel's.
func ambientAt(abi int, a Ambient) (AmbientReport, error) {
	var r AmbientReport
	switch {
	case a.TCP && abi >= netABI:
		r.TCP = true
	case a.TCP && len(a.BindTCP)+len(a.ConnectTCP) > 0:
		return r, fmt.Errorf("landlock: TCP port rules need ABI %d (Linux 6.7), this kernel has %d", netABI, abi)
	}
	r.ScopeAbstract = a.ScopeAbstract && abi >= scopeABI
	r.ScopeSignal = a.ScopeSignal && abi >= scopeABI
	return r, nil
}

// rulesetAttr is the ruleset of handled file access h and of what r
// enforces, with its size: only the fields the ABI knows, as the kernel's
// copy_struct_from_user takes a shorter struct as zero-extended.
func rulesetAttr(h AccessFS, r AmbientReport) (unix.LandlockRulesetAttr, uintptr) {
	attr := unix.LandlockRulesetAttr{Handled_access_fs: uint64(h)}
	size := unsafe.Offsetof(attr.Handled_access_net)
	if r.TCP {
		attr.Handled_access_net = ll.AccessNetBindTCP | ll.AccessNetConnectTCP
		size = unsafe.Offsetof(attr.Scoped)
	}
	if r.ScopeAbstract {
		attr.Scoped |= unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
	}
	if r.ScopeSignal {
		attr.Scoped |= unix.LANDLOCK_SCOPE_SIGNAL
	}
	if attr.Scoped != 0 {
		size = unsafe.Sizeof(attr)
	}
	return attr, size
}

// addPortRules allows each port of a to be bound or connected to.
func addPortRules(ruleset int, a Ambient) error {
	for _, p := range []struct {
		ports  []uint16
		access uint64
		what   string
	}{{a.BindTCP, ll.AccessNetBindTCP, "bind"}, {a.ConnectTCP, ll.AccessNetConnectTCP, "connect"}} {
		for _, port := range p.ports {
			attr := ll.NetPortAttr{AllowedAccess: p.access, Port: uint64(port)}
			if err := ll.LandlockAddNetPortRule(ruleset, &attr, 0); err != nil {
				return fmt.Errorf("landlock: allow TCP %s to port %d: %w", p.what, port, err)
			}
		}
	}
	return nil
}
