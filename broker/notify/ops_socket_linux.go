package notify

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/rights"
	"github.com/capfd/capfd/vfsops"
)

// connect(fd, addr, addrlen) and bind(fd, addr, addrlen)
//
// A Unix socket's address names a file (a pathname socket) or a name in
// the network namespace (an abstract socket), so connect and bind are path
// operations when the socket is a Unix one, and the filter cannot tell:
// the socket's domain is a property of the descriptor, the address sits in
// memory. So both are notified, and the supervisor looks at the socket
// itself (a duplicate, pidfd_getfd):
//
//   - Any other domain (AF_INET, AF_INET6, the netlink sockets capability
//     mode lets libc have) is given back to the kernel (CONTINUE), which
//     is safe because the domain of a socket never changes: whatever
//     address the program puts in memory after this check, the kernel
//     connects an INET socket to an INET address or fails, and Landlock
//     decides its port there (capmode).
//   - A Unix socket's address is copied once, and the supervisor performs
//     the connect or bind itself on the program's socket, with that copy:
//     never CONTINUE, since a thread rewriting the address after the check
//     would make the kernel connect to a pathname socket no grant names.
//     A pathname is resolved as every other path (beneath its grant, with
//     that grant's rights): connect needs the connect right on the socket
//     file reached, bind needs create in the directory; the kernel is then
//     handed the file itself, by its descriptor's procfs name
//     (vfsops.ConnectUnix, vfsops.BindUnix). An abstract name is refused
//     unless capability mode gives abstract sockets back (--allow-abstract):
//     it lives outside the file system, where no grant can name it, and
//     binding one could squat a name that a service outside expects to
//     own. An unnamed address (autobind) is performed as given.
//
// Whose socket it is: the kernel records the connecting task's credentials
// as the peer's (SO_PEERCRED, SO_PEERGROUPS), and here that task is a
// supervisor thread. So the supervisor connects only for a program whose
// effective uid, gid and groups are its own, and the peer sees those
// (and, as its pid, the supervisor's: the process of capfd run). A program
// with other credentials (one that dropped privileges) is refused with
// EACCES: the supervisor never lets a server take it for someone else.
func sysConnect(c *call) result { return c.unixAddressed("connect") }

func sysBind(c *call) result { return c.unixAddressed("bind") }

// sunPathOffset is where sun_path starts in struct sockaddr_un.
const sunPathOffset = unsafe.Offsetof(unix.RawSockaddrUnix{}.Path)

func (c *call) unixAddressed(op string) result {
	sock, errno := c.taskFd(c.argFd(0))
	if errno != 0 {
		return fail(errno)
	}
	defer unix.Close(sock)
	domain, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_DOMAIN)
	switch {
	case err != nil:
		// Not a socket: the kernel's answer is ENOTSOCK, and it has no
		// address to resolve.
		return fail(unix.ENOTSOCK)
	case domain != unix.AF_UNIX:
		return result{resume: true, fd: -1}
	}
	addrlen := uint64(uint32(c.arg(2)))
	if addrlen < uint64(sunPathOffset) || addrlen > uint64(unsafe.Sizeof(unix.RawSockaddrUnix{})) {
		return fail(unix.EINVAL)
	}
	addr := make([]byte, addrlen)
	if errno := readMemory(c.pid(), c.arg(1), addr); errno != 0 {
		return fail(errno)
	}
	sunPath := addr[sunPathOffset:]
	if binary.NativeEndian.Uint16(addr) != unix.AF_UNIX || len(sunPath) == 0 {
		// Another family (AF_UNSPEC) or no name: nothing is reached by
		// name, so the kernel's own answer for our copy stands (EINVAL,
		// EAFNOSUPPORT, or bind's autobind to a random abstract name).
		return c.sockResult(op, "", c.asCaller(func() error { return sockaddrCall(op, sock, addr) }))
	}
	if sunPath[0] == 0 {
		name := "@" + string(bytes.TrimRight(sunPath[1:], "\x00"))
		if !c.s.ambient.Abstract {
			c.report(Refusal{Op: op, Path: name, Why: "capability mode: abstract sockets are outside every grant; --allow-abstract gives them back"})
			return fail(unix.EPERM)
		}
		if errno := c.samePeerIdentity(op); errno != 0 {
			return fail(errno)
		}
		return c.sockResult(op, name, c.asCaller(func() error { return sockaddrCall(op, sock, addr) }))
	}
	p := string(sunPath)
	if i := bytes.IndexByte(sunPath, 0); i >= 0 {
		p = string(sunPath[:i])
	}
	if op == "connect" {
		return c.connectPath(sock, p)
	}
	return c.bindPath(sock, p)
}

// connectPath connects sock to the socket file p names.
func (c *call) connectPath(sock int, p string) result {
	const op = "connect"
	obj, l, r, done := c.openLocated(unix.AT_FDCWD, p, 0, need{op: op, parent: rights.Lookup, object: rights.Connect, follow: true})
	if done {
		return r
	}
	defer unix.Close(obj)
	st, err := vfsops.Fstat(obj)
	if err != nil {
		return fail(c.errnoOf(op, l, err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fail(unix.ECONNREFUSED) // the kernel's answer for a file that is no socket
	}
	if errno := c.samePeerIdentity(op); errno != 0 {
		return fail(errno)
	}
	return c.errResult(op, l, c.asCaller(func() error { return vfsops.ConnectUnix(sock, obj) }))
}

// bindNeed is what binding a socket file needs of its directory: what
// making a new file there does (an O_CREAT|O_EXCL open), create.
var bindNeed = vfsops.Request{Op: vfsops.OpOpen, Flags: unix.O_CREAT | unix.O_EXCL}.On(vfsops.OnDir)

// bindPath binds sock to a new socket file p.
func (c *call) bindPath(sock int, p string) result {
	const op = "bind"
	l, errno := c.locate(unix.AT_FDCWD, p)
	if errno != 0 {
		return resultFor(errno)
	}
	l.entry = true
	if errno := c.check(&l, need{op: op, parent: bindNeed, entry: true}); errno != 0 {
		return fail(errno)
	}
	if l.g.fd < 0 || l.rest == "." {
		return fail(unix.EADDRINUSE) // the grant itself exists
	}
	dir, name := path.Split(path.Clean(l.rest))
	return c.errResult(op, l, c.asCaller(func() error {
		dirfd := l.g.fd
		if dir != "" {
			fd, err := vfsops.OpenBeneath(l.g.fd, dir, unix.O_PATH|unix.O_DIRECTORY, 0, resolveHow)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			dirfd = fd
		}
		if err := vfsops.BindUnix(sock, dirfd, name); err != nil {
			return err
		}
		// bind(2) masks the new file's mode with the creating task's
		// umask, the supervisor's; give it the program's. Until then the
		// socket cannot be connected to anyway: it is not listening.
		return vfsops.Chmod(dirfd, name, 0o777&^c.umask(), resolveHow|vfsops.NoSymlinks)
	}))
}

// samePeerIdentity refuses a connect the supervisor would make under
// credentials other than the program's (see "Whose socket it is").
func (c *call) samePeerIdentity(op string) unix.Errno {
	cr, errno := c.callerCreds()
	if errno != 0 {
		return errno
	}
	self, errno := c.selfCreds()
	if errno != 0 {
		return errno
	}
	euid, egid := uint32(unix.Geteuid()), uint32(unix.Getegid())
	groups := slices.Sorted(slices.Values(self.groups))
	if cr.euid == euid && cr.egid == egid && slices.Equal(cr.groups, groups) {
		return 0
	}
	c.report(Refusal{Kind: KindRefused, Op: op, Why: fmt.Sprintf("a Unix socket for uid %d gid %d: the supervisor, uid %d gid %d, would be the peer the server sees", cr.euid, cr.egid, euid, egid)})
	return unix.EACCES
}

func (c *call) sockResult(op, name string, err error) result {
	if err == nil {
		return ok(0)
	}
	if errno, isErrno := err.(unix.Errno); isErrno {
		return fail(errno)
	}
	return fail(c.errnoOf(op, location{abs: name}, err))
}

// sockaddrCall is connect or bind of sock to the raw address addr, our
// copy of the program's.
func sockaddrCall(op string, sock int, addr []byte) error {
	nr := uintptr(unix.SYS_CONNECT)
	if op == "bind" {
		nr = unix.SYS_BIND
	}
	_, _, errno := unix.Syscall(nr, uintptr(sock), uintptr(unsafe.Pointer(&addr[0])), uintptr(len(addr)))
	if errno != 0 {
		return errno
	}
	return nil
}
