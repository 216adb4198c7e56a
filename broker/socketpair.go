package broker

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Socketpair makes the connection a launcher serves with ServeConn: the
// broker's end as a *net.UnixConn, and the client's end as an *os.File to
// hand to the child (exec.Cmd.ExtraFiles puts it at descriptor 3+i; set
// capfd.EnvBrokerFD to that number and the child calls capfd.FromEnv). Both
// are SOCK_SEQPACKET and close-on-exec in this process; ExtraFiles clears
// that flag in the child only.
func Socketpair() (brokerEnd *net.UnixConn, clientEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("broker: socketpair: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "capfd-broker")
	c, err := net.FileConn(f) // dups; f is closed below either way
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("broker: socketpair: %w", err)
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "capfd-broker-client"), nil
}
