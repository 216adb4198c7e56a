package launch

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/capfd"
)

// attachBroker gives the program a broker connection for capability-aware
// code (capfd.FromEnv): one end of a socketpair served by an embedded
// broker with the user's directory grants (opts.Grants, not the profile),
// or with opts.BrokerSocket a connection to an existing broker (which then
// identifies the client as this launcher: SO_PEERCRED is taken at connect
// time). The descriptor is the child's fd 4, named by CAPFD_BROKER_FD. The
// returned channel closes when the embedded broker has stopped.
func attachBroker(ctx context.Context, cmd *exec.Cmd, opts *Options) (<-chan struct{}, error) {
	const childFd = stage2ControlFd + 1
	setEnv := func() { cmd.Env = append(cmd.Env, capfd.EnvBrokerFD+"="+strconv.Itoa(childFd)) }
	if opts.BrokerSocket != "" {
		conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: opts.BrokerSocket, Net: "unixpacket"})
		if err != nil {
			return nil, fmt.Errorf("broker %s: %w", opts.BrokerSocket, err)
		}
		f, err := conn.File()
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("broker %s: %w", opts.BrokerSocket, err)
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		setEnv()
		return nil, nil
	}
	var grants []broker.Grant
	for _, g := range opts.Grants {
		if st, err := os.Stat(g.Path); err == nil && st.IsDir() {
			grants = append(grants, broker.Grant{Name: g.Path, Path: g.Path, Rights: g.Rights})
		}
	}
	if len(grants) == 0 {
		return nil, nil
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("broker socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(pair[0]), "capfd-broker")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		unix.Close(pair[1])
		return nil, fmt.Errorf("broker: %w", err)
	}
	srv, err := broker.New(broker.Config{})
	if err != nil {
		fc.Close()
		unix.Close(pair[1])
		return nil, fmt.Errorf("broker: %w", err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(pair[1]), "capfd-broker-child"))
	setEnv()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeConn(ctx, fc.(*net.UnixConn), grants)
	}()
	return done, nil
}
