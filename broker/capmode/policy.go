package capmode

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/capfd/capfd/broker/landlock"
)

// Policy is what a program in capability mode gets back of the ambient
// authority capability mode takes away. The zero Policy gives back
// nothing: no network, no Unix sockets outside the grants, no signals or
// abstract sockets beyond the sandbox, a session of its own.
type Policy struct {
	// ConnectTCP and BindTCP are the TCP ports the program may connect
	// to and bind (--connect tcp:PORT, --bind tcp:PORT). Landlock (ABI 4)
	// decides them in the kernel, by port only: it cannot tell hosts
	// apart.
	ConnectTCP, BindTCP []uint16
	// Net gives the host network back whole: every socket family, UDP,
	// raw and netlink sockets (as the program's capabilities allow), any
	// address and port (--allow-net).
	Net bool
	// Abstract lets the program connect to and bind abstract Unix
	// sockets, which live in the network namespace, not the file system,
	// so no grant can name them (--allow-abstract).
	Abstract bool
	// Signal lets the program signal processes outside the sandbox that
	// its credentials allow (--allow-signal).
	Signal bool
	// SameSession keeps the program in the caller's session, with the
	// caller's terminal as its controlling terminal (--same-session), for
	// interactive programs that need job control. TIOCSTI and TIOCLINUX
	// stay refused.
	SameSession bool
}

// TCP reports whether the program may use TCP sockets at all.
func (p Policy) TCP() bool { return p.Net || len(p.ConnectTCP) > 0 || len(p.BindTCP) > 0 }

// ParsePort reads a socket grant's address, "tcp:PORT", into the port.
// A host is refused rather than ignored: the kernel decides TCP by port
// only, so "tcp:example.com:443" would silently mean every host's 443.
func ParsePort(v string) (uint16, error) {
	proto, rest, ok := strings.Cut(v, ":")
	if !ok || proto != "tcp" {
		return 0, fmt.Errorf("%q: want tcp:PORT (only TCP ports can be granted; --allow-net gives the whole network)", v)
	}
	if strings.Contains(rest, ":") {
		return 0, fmt.Errorf("%q: hosts cannot be told apart (Landlock decides TCP by port only): want tcp:PORT", v)
	}
	// 0 is a port too: binding it asks the kernel for an ephemeral one,
	// and Landlock allows that only where port 0 is granted.
	n, err := strconv.ParseUint(rest, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q: port must be 0 to 65535", v)
	}
	return uint16(n), nil
}

// String describes p for `capfd run -v`.
func (p Policy) String() string {
	var parts []string
	switch {
	case p.Net:
		parts = append(parts, "network: all")
	case p.TCP():
		parts = append(parts, fmt.Sprintf("network: TCP connect %v, bind %v", ports(p.ConnectTCP), ports(p.BindTCP)))
	default:
		parts = append(parts, "network: none")
	}
	if p.Abstract {
		parts = append(parts, "abstract sockets: all")
	}
	if p.Signal {
		parts = append(parts, "signals: beyond the sandbox")
	}
	if p.SameSession {
		parts = append(parts, "session: the caller's")
	}
	return strings.Join(parts, "; ")
}

func ports(ps []uint16) string {
	if len(ps) == 0 {
		return "none"
	}
	s := slices.Clone(ps)
	slices.Sort(s)
	out := make([]string, len(s))
	for i, p := range s {
		out[i] = strconv.Itoa(int(p))
	}
	return strings.Join(out, ",")
}

// Landlock is what of p Landlock enforces: TCP ports (unless the whole
// network is given back) and the abstract-socket and signal scopes (unless
// given back). TCP is handled even with no port granted, where seccomp
// already refuses TCP sockets: a second layer costs nothing.
func (p Policy) Landlock() landlock.Ambient {
	return landlock.Ambient{
		TCP:           !p.Net,
		BindTCP:       p.BindTCP,
		ConnectTCP:    p.ConnectTCP,
		ScopeAbstract: !p.Abstract,
		ScopeSignal:   !p.Signal,
	}
}
