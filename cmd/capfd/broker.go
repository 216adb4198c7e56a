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
	"path/filepath"
	"reflect"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/enforce"
)

func init() {
	register("broker", command{
		summary: "run the capability broker: serve clients over a Unix socket per a policy file",
		usage:   "--config broker.yaml [--socket PATH] [--kernel auto|off|require] [--idle-timeout DURATION] | --check-config broker.yaml",
		help: func(w io.Writer) {
			fmt.Fprint(w, "Serves until SIGTERM or SIGINT, then drains: requests already read are\nanswered, then every connection is closed. SIGHUP reloads the policy for\nnew connections (connected clients keep theirs). Under systemd socket\nactivation it serves the passed socket and reports readiness. Exits 2 for\na configuration it cannot serve (a grant that does not open, a bad mode),\n1 when serving fails.\n")
		},
		setup: brokerFlags,
	})
}

// brokerOverrides are the command line's replacements for settings of the
// configuration file.
type brokerOverrides struct {
	socket, kernel, idle string
}

// brokerFlags defines the broker's flags. The verb serves until SIGTERM or
// SIGINT, then drains: requests already read are answered, then every
// connection is closed. SIGHUP reloads the policy (reloadPolicy).
func brokerFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	configPath := fs.String("config", "", "the broker's configuration `FILE` (YAML; see examples/broker.yaml)")
	checkPath := fs.String("check-config", "", "check the configuration `FILE` as the broker would before serving, say what is wrong, and exit (0: valid)")
	var o brokerOverrides
	fs.StringVar(&o.socket, "socket", "", "listen on the socket `PATH` instead of the configured one (ignored when systemd passes a socket)")
	fs.StringVar(&o.kernel, "kernel", "", "kernel enforcement `MODE`: auto (BPF LSM if this kernel loads it), off, or require (default: the config's kernel, else auto)")
	fs.StringVar(&o.idle, "idle-timeout", "", "close a client's connection after this `DURATION` without a request, e.g. 5m; 0 for never (default: the config's idle_timeout, else 5m)")
	return func(args []string, stdout, stderr io.Writer) int {
		switch {
		case *checkPath != "" && *configPath == "" && len(args) == 0:
			return checkBrokerConfig(*checkPath, o, stdout, stderr)
		case *configPath == "":
			return usageError(stderr, "broker", "--config (or --check-config) is required")
		case *checkPath != "":
			return usageError(stderr, "broker", "--check-config checks a file and exits: give it without --config")
		case len(args) != 0:
			return usageError(stderr, "broker", "unexpected argument %q", args[0])
		}
		return runBroker(*configPath, o, stderr)
	}
}

func runBroker(configPath string, o brokerOverrides, stderr io.Writer) int {
	fc, policy, err := loadBrokerConfig(configPath, o)
	if err != nil {
		fmt.Fprintf(stderr, "capfd broker: %v\n", err)
		return 2
	}
	// Every grant that is not optional must open now: a broker that
	// started anyway would refuse each of its clients.
	if err := policy.CheckGrants(); err != nil {
		fmt.Fprintf(stderr, "capfd broker: %s: %v\n", configPath, err)
		return 2
	}
	if err := serveBroker(configPath, o, fc, stderr); err != nil {
		fmt.Fprintf(stderr, "capfd broker: %v\n", err)
		return 1
	}
	return 0
}

// loadBrokerConfig reads the configuration file, applies the command
// line's overrides and checks every setting, short of opening the grants.
func loadBrokerConfig(path string, o brokerOverrides) (*broker.FileConfig, broker.Policy, error) {
	fc, err := broker.LoadFile(path)
	if err != nil {
		return nil, broker.Policy{}, err
	}
	if o.socket != "" {
		fc.Socket = o.socket
	}
	if o.kernel != "" {
		fc.Kernel = o.kernel
	}
	if o.idle != "" {
		fc.IdleTimeout = o.idle
	}
	if _, err := enforce.ParseMode(fc.Kernel); err != nil {
		return nil, broker.Policy{}, err
	}
	if _, err := broker.ParseIdleTimeout(fc.IdleTimeout); err != nil {
		return nil, broker.Policy{}, fmt.Errorf("--idle-timeout: %w", err)
	}
	policy, err := fc.Policy()
	if err != nil {
		return nil, broker.Policy{}, fmt.Errorf("%s: %w", path, err)
	}
	return fc, policy, nil
}

// checkBrokerConfig is --check-config: everything the broker checks
// before it serves, without serving. It exits 0 for a configuration the
// broker would start with, 1 (saying why) for one it would not.
func checkBrokerConfig(path string, o brokerOverrides, stdout, stderr io.Writer) int {
	fc, policy, err := loadBrokerConfig(path, o)
	if err == nil {
		err = policy.CheckGrants()
	}
	if err == nil && fc.Metrics.Address != "" {
		err = broker.CheckMetricsAddr(fc.Metrics.Address, fc.Metrics.AllowNonLoopback)
	}
	if err != nil {
		fmt.Fprintf(stderr, "capfd broker: %s: invalid: %v\n", path, err)
		return 1
	}
	grants := 0
	for _, r := range policy.Rules {
		grants += len(r.Grants)
	}
	fmt.Fprintf(stdout, "%s: valid: %d client rules, %d grants\n", path, len(policy.Rules), grants)
	return 0
}

func serveBroker(configPath string, o brokerOverrides, fc *broker.FileConfig, stderr io.Writer) error {
	// SIGHUP first, so that from now on it reloads (reloadPolicy) and
	// never kills the broker, its default action.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	policy, _ := fc.Policy() // validated by loadBrokerConfig
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

	kernelMode, _ := enforce.ParseMode(fc.Kernel) // checked by loadBrokerConfig
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

	idle, _ := broker.ParseIdleTimeout(fc.IdleTimeout) // checked by loadBrokerConfig
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
		addr, errc, err := broker.ServeMetrics(ctx, fc.Metrics.Address, fc.Metrics.AllowNonLoopback, srv.Registry(), srv.Ready)
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

	ln, err := brokerListener(fc.Socket, mode, logger)
	if err != nil {
		return err
	}
	go func() {
		cur := fc
		for {
			select {
			case <-hup:
				cur = reloadPolicy(srv, configPath, o, cur, logger)
			case <-ctx.Done():
				return
			}
		}
	}()
	// The socket is listening: a client that connects from now on waits
	// in its backlog until Serve accepts it.
	sdNotify(logger, daemon.SdNotifyReady)
	err = srv.Serve(ctx, ln)
	sdNotify(logger, daemon.SdNotifyStopping)
	logger.Info("stopped")
	return err
}

// reloadPolicy is SIGHUP: it reads the configuration file again and
// admits clients that connect from now on by its clients section; a
// connected client keeps the grants it was admitted with (Server.SetPolicy).
// A file that does not load, or a grant that does not open, is logged and
// the policy in force kept. The other settings (socket, metrics, limits,
// audit, kernel) take effect only on a restart: a change to them is
// logged as such. It returns the configuration now in force.
func reloadPolicy(srv *broker.Server, path string, o brokerOverrides, old *broker.FileConfig, log *slog.Logger) *broker.FileConfig {
	sdNotify(log, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
	defer sdNotify(log, daemon.SdNotifyReady)
	fc, policy, err := loadBrokerConfig(path, o)
	if err == nil {
		err = srv.SetPolicy(policy)
	}
	if err != nil {
		log.Error("reload failed: keeping the policy in force", "config", path, "err", err)
		return old
	}
	log.Info("policy reloaded: new clients are admitted by it, connected ones keep their grants", "config", path, "clients", len(policy.Rules))
	if changed := restartOnly(old, fc); len(changed) > 0 {
		log.Warn("reload: these settings changed but take effect only on a restart", "settings", changed)
	}
	return fc
}

// restartOnly names the settings, besides the policy, that differ
// between two configurations.
func restartOnly(old, cur *broker.FileConfig) []string {
	var changed []string
	a, b := reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem()
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() || f.Name == "Clients" {
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			changed = append(changed, f.Tag.Get("yaml"))
		}
	}
	return changed
}

// sdNotify tells systemd the broker's state, when it runs as a Type=notify
// service (NOTIFY_SOCKET is set); elsewhere it does nothing.
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// brokerListener returns the socket systemd passed (socket activation,
// LISTEN_FDS), else listens on path.
func brokerListener(path string, mode os.FileMode, log *slog.Logger) (*net.UnixListener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	switch {
	case len(lns) == 0:
		return listenSeqpacket(path, mode, log)
	case len(lns) > 1:
		for _, l := range lns {
			if l != nil {
				l.Close()
			}
		}
		return nil, fmt.Errorf("socket activation: %d sockets passed, want one", len(lns))
	}
	ul, ok := lns[0].(*net.UnixListener)
	if !ok || ul.Addr().Network() != "unixpacket" {
		if lns[0] != nil {
			lns[0].Close()
		}
		return nil, errors.New("socket activation: the socket passed is not a listening SOCK_SEQPACKET Unix socket (ListenSequentialPacket=)")
	}
	// The socket file is systemd's: it outlives this process, so that
	// clients connecting while the broker restarts wait in its backlog.
	ul.SetUnlinkOnClose(false)
	log.Info("socket activation: serving the socket systemd passed; the configured socket and socket_mode are not used", "socket", ul.Addr().String())
	return ul, nil
}

// listenSeqpacket listens on path, replacing a stale socket file left by a
// broker that died, but never one a live broker is serving on. A missing
// parent directory is created, mode 0755 (as systemd's RuntimeDirectory=
// would): who may connect is the socket's own mode.
func listenSeqpacket(path string, mode os.FileMode, log *slog.Logger) (*net.UnixListener, error) {
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
	} else if errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(path)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("socket directory: %w", err)
			}
			if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
				return nil, fmt.Errorf("socket directory: %w", err)
			}
			log.Info("created the socket's directory", "dir", dir, "mode", "0755")
		}
	} else {
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
