package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/enforce"
)

func init() {
	register("broker", command{
		summary: "run the capability broker: serve clients over a Unix socket per a policy file",
		usage:   "--config broker.yaml [--socket PATH] [--kernel auto|off|require] [--idle-timeout DURATION]",
		help: func(w io.Writer) {
			fmt.Fprint(w, "Serves until SIGTERM or SIGINT, then drains: requests already read are\nanswered, then every connection is closed. Exits 2 for a configuration\nit cannot serve (a grant that does not open, a bad mode), 1 when serving fails.\n")
		},
		setup: brokerFlags,
	})
}

// brokerFlags defines the broker's flags; the verb serves until SIGTERM or
// SIGINT, then drains: requests already read are answered, then every
// connection is closed.
func brokerFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	configPath := fs.String("config", "", "the broker's configuration `FILE` (YAML; see examples/broker.yaml)")
	socketOverride := fs.String("socket", "", "listen on the socket `PATH` instead of the configured one")
	kernelOverride := fs.String("kernel", "", "kernel enforcement `MODE`: auto (BPF LSM if this kernel loads it), off, or require (default: the config's kernel, else auto)")
	idleOverride := fs.String("idle-timeout", "", "close a client's connection after this `DURATION` without a request, e.g. 5m; 0 for never (default: the config's idle_timeout, else 5m)")
	return func(args []string, stdout, stderr io.Writer) int {
		if *configPath == "" {
			return usageError(stderr, "broker", "--config is required")
		}
		if len(args) != 0 {
			return usageError(stderr, "broker", "unexpected argument %q", args[0])
		}
		return runBroker(*configPath, *socketOverride, *kernelOverride, *idleOverride, stderr)
	}
}

func runBroker(configPath, socketOverride, kernelOverride, idleOverride string, stderr io.Writer) int {
	fc, err := broker.LoadFile(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "capfd broker: %v\n", err)
		return 2
	}
	if socketOverride != "" {
		fc.Socket = socketOverride
	}
	if kernelOverride != "" {
		fc.Kernel = kernelOverride
	}
	if idleOverride != "" {
		fc.IdleTimeout = idleOverride
	}
	if _, err := enforce.ParseMode(fc.Kernel); err != nil {
		fmt.Fprintf(stderr, "capfd broker: %v\n", err)
		return 2
	}
	if _, err := broker.ParseIdleTimeout(fc.IdleTimeout); err != nil {
		fmt.Fprintf(stderr, "capfd broker: --idle-timeout: %v\n", err)
		return 2
	}
	// Every grant that is not optional must open now: a broker that
	// started anyway would refuse each of its clients.
	policy, _ := fc.Policy() // validated by LoadFile
	if err := policy.CheckGrants(); err != nil {
		fmt.Fprintf(stderr, "capfd broker: %s: %v\n", configPath, err)
		return 2
	}
	if err := serveBroker(fc, stderr); err != nil {
		fmt.Fprintf(stderr, "capfd broker: %v\n", err)
		return 1
	}
	return 0
}

func serveBroker(fc *broker.FileConfig, stderr io.Writer) error {
	policy, _ := fc.Policy() // validated by LoadFile
	mode, _ := fc.Mode()

	auditOut := stderr
	if p := fc.Audit.Path; p != "" && p != "-" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		defer f.Close()
		auditOut = f
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	audit := slog.New(slog.NewJSONHandler(auditOut, nil))

	kernelMode, _ := enforce.ParseMode(fc.Kernel) // checked by runBroker
	kernel, err := enforce.Setup(kernelMode, logger, audit)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: clients lose their kernel
	// confinement only once the broker has stopped serving them.
	defer func() {
		if err := kernel.Close(); err != nil {
			logger.Error("kernel layer", "err", err)
		}
	}()

	idle, _ := broker.ParseIdleTimeout(fc.IdleTimeout) // checked by runBroker
	srv, err := broker.New(broker.Config{
		IdleTimeout: idle,
		Policy:      policy,
		Limits:      fc.LimitsConfig(),
		Audit:       audit,
		AuditAll:    fc.Audit.AllOperations,
		Log:         logger,
		OnConnect:   kernel.OnConnect,
	})
	if err != nil {
		return err
	}
	if err := kernel.Register(srv.Registry()); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if fc.Metrics.Address != "" {
		addr, errc, err := broker.ServeMetrics(ctx, fc.Metrics.Address, fc.Metrics.AllowNonLoopback, srv.Registry())
		if err != nil {
			return err
		}
		go func() {
			if err := <-errc; err != nil {
				logger.Error("metrics server failed", "err", err)
			}
		}()
		logger.Info("metrics", "address", "http://"+addr.String()+"/metrics")
	}

	ln, err := listenSeqpacket(fc.Socket, mode)
	if err != nil {
		return err
	}
	err = srv.Serve(ctx, ln)
	logger.Info("stopped")
	return err
}

// listenSeqpacket listens on path, replacing a stale socket file left by a
// broker that died, but never one a live broker is serving on.
func listenSeqpacket(path string, mode os.FileMode) (*net.UnixListener, error) {
	addr := &net.UnixAddr{Name: path, Net: "unixpacket"}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialUnix("unixpacket", nil, addr); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another broker is serving on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unixpacket", addr)
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket mode: %w", err)
	}
	return ln, nil
}
