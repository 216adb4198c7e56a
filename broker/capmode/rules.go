package capmode

import (
	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker/seccomp"
)

// Rules are the seccomp rules of capability mode for p, to be placed
// before the filter's broad allow rules (first match decides). Every one
// is decided on arguments the kernel reads as integers (a socket's domain
// and type, an ioctl's request, clone's flags), never on memory the
// program could change after the check: each is race-free.
//
//   - ioctl TIOCSTI and TIOCLINUX fail with EPERM: both push input into a
//     terminal (TIOCLINUX's TIOCL_PASTESEL pastes the console selection),
//     and the program's terminal may be the one the caller's shell reads.
//   - clone and unshare with a namespace flag, and clone3, whose flags sit
//     in memory the filter cannot read, fail: a new user namespace gives
//     the program every capability in it, and new mount or network
//     namespaces are authority no grant names. clone3 fails with ENOSYS,
//     on which glibc falls back to clone; the others with EPERM.
//   - socket and socketpair: see socketRules.
//   - with TCP granted but not the whole network, sendto, sendmsg and
//     sendmmsg with MSG_FASTOPEN fail with EACCES: a fast-open send
//     connects the socket inside the send, where Landlock's connect check
//     (security_socket_connect) is not called.
func Rules(p Policy) []seccomp.Rule {
	rules := []seccomp.Rule{
		{Syscalls: []string{"ioctl"}, Args: []seccomp.ArgMatch{{Index: 1, Value: unix.TIOCSTI}}, Action: refusedTTY},
		{Syscalls: []string{"ioctl"}, Args: []seccomp.ArgMatch{{Index: 1, Value: unix.TIOCLINUX}}, Action: refusedTTY},
		{Syscalls: []string{"clone", "unshare"}, Args: []seccomp.ArgMatch{{Index: 0, Op: seccomp.ArgAnyBit, Value: namespaceFlags}}, Action: refusedNamespace},
		{Syscalls: []string{"unshare"}, Args: []seccomp.ArgMatch{{Index: 0, Op: seccomp.ArgAnyBit, Value: unix.CLONE_NEWTIME}}, Action: refusedNamespace},
		{Syscalls: []string{"clone3"}, Action: seccomp.Errno(unix.ENOSYS)},
	}
	rules = append(rules, socketRules(p)...)
	if p.TCP() && !p.Net {
		for _, send := range []struct {
			name  string
			flags int
		}{{"sendto", 3}, {"sendmsg", 2}, {"sendmmsg", 3}} {
			rules = append(rules, seccomp.Rule{
				Syscalls: []string{send.name},
				Args:     []seccomp.ArgMatch{{Index: send.flags, Op: seccomp.ArgAnyBit, Value: unix.MSG_FASTOPEN}},
				Action:   refusedNet,
			})
		}
	}
	return rules
}

// namespaceFlags are clone's flags that make a new namespace. CLONE_NEWTIME
// (0x80) is only a namespace flag to unshare: in clone's flags that bit is
// part of the exit signal.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

var (
	refusedTTY       = seccomp.Errno(unix.EPERM)
	refusedNamespace = seccomp.Errno(unix.EPERM)
	// refusedNet is what a refused network operation returns: EACCES,
	// as Landlock's refusal of a connect or bind.
	refusedNet = seccomp.Errno(unix.EACCES)
)

// socketRules decide which sockets the program may create, by domain,
// type and protocol, all integers the kernel reads from the registers:
//
//   - AF_UNIX stream and seqpacket sockets are allowed: their peers are
//     reached only by connect(2), which the supervisor decides on the
//     socket reached (a pathname beneath a grant with the connect right;
//     an abstract name only under Policy.Abstract). Sends on them carry no
//     address (stream sockets refuse one, seqpacket ignores it).
//   - AF_UNIX datagram sockets are refused, from socket and from
//     socketpair alike: every sendto or sendmsg on one may name a new
//     peer (/dev/log, /run/systemd/notify, any datagram socket on the
//     host) in memory the filter cannot read and the supervisor could
//     only check, not hold still. Under Policy.Net they are allowed.
//   - With TCP granted, AF_INET and AF_INET6 stream sockets of protocol
//     TCP (0 or IPPROTO_TCP), whose bind and connect Landlock decides by
//     port in the kernel, and NETLINK_ROUTE sockets, which libc's
//     getaddrinfo reads interface addresses from. Not MPTCP, SCTP or UDP,
//     which Landlock does not see.
//   - Under Policy.Net every socket; otherwise every other socket fails
//     with EACCES.
func socketRules(p Policy) []seccomp.Rule {
	if p.Net {
		return nil
	}
	unixDomain := seccomp.ArgMatch{Index: 0, Value: unix.AF_UNIX}
	rules := []seccomp.Rule{
		{Syscalls: []string{"socket", "socketpair"}, Args: append([]seccomp.ArgMatch{unixDomain}, typeIs(1, unix.SOCK_DGRAM)...), Action: refusedNet},
		{Syscalls: []string{"socket", "socketpair"}, Args: []seccomp.ArgMatch{unixDomain}, Action: seccomp.Allow},
	}
	if p.TCP() {
		for _, domain := range []uint32{unix.AF_INET, unix.AF_INET6} {
			for _, proto := range []uint32{0, unix.IPPROTO_TCP} {
				args := append([]seccomp.ArgMatch{{Index: 0, Value: domain}}, typeIs(1, unix.SOCK_STREAM)...)
				rules = append(rules, seccomp.Rule{
					Syscalls: []string{"socket"},
					Args:     append(args, seccomp.ArgMatch{Index: 2, Value: proto}),
					Action:   seccomp.Allow,
				})
			}
		}
		rules = append(rules, seccomp.Rule{
			Syscalls: []string{"socket"},
			Args:     []seccomp.ArgMatch{{Index: 0, Value: unix.AF_NETLINK}, {Index: 2, Value: unix.NETLINK_ROUTE}},
			Action:   seccomp.Allow,
		})
	}
	return append(rules, seccomp.Rule{Syscalls: []string{"socket", "socketpair"}, Action: refusedNet})
}

// typeIs matches a socket type argument whose type (the low four bits,
// SOCK_TYPE_MASK; the rest are SOCK_NONBLOCK and SOCK_CLOEXEC) is t: each
// of t's bits set, every other bit of the mask clear.
func typeIs(index int, t uint32) []seccomp.ArgMatch {
	const typeMask = 0xf
	var out []seccomp.ArgMatch
	for bit := uint32(1); bit < typeMask; bit <<= 1 {
		if t&bit != 0 {
			out = append(out, seccomp.ArgMatch{Index: index, Op: seccomp.ArgAnyBit, Value: bit})
		}
	}
	return append(out, seccomp.ArgMatch{Index: index, Op: seccomp.ArgNoBit, Value: typeMask &^ t})
}
