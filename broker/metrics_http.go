package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrNonLoopback refuses a metrics address that is not loopback.
var ErrNonLoopback = errors.New("metrics address is not loopback (set allow_non_loopback to serve it anyway)")

// CheckMetricsAddr checks that addr (host:port) is a loopback address, or
// that the caller forces otherwise. An empty host means every interface,
// so it is not loopback; "localhost" is resolved and every address it
// names must be loopback.
func CheckMetricsAddr(addr string, allowNonLoopback bool) error {
	if allowNonLoopback {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics address %q: %w", addr, err)
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if host == "localhost" {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("metrics address %q: %w", addr, err)
		}
		ips = addrs
	}
	if len(ips) == 0 {
		return fmt.Errorf("%q: %w", addr, ErrNonLoopback)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%q: %w", addr, ErrNonLoopback)
		}
	}
	return nil
}

// ServeMetrics serves reg's metrics at /metrics on addr until ctx is
// cancelled, and beside them the health checks: /healthz answers 200 "ok"
// for as long as the process serves HTTP at all (liveness), /readyz 200
// "ready" while ready returns nil and 503 with its error otherwise
// (readiness; Server.Ready, so a broker that is starting or draining is
// not ready). A nil ready is always ready. It checks the address first
// (see CheckMetricsAddr), and returns once the listener is up, reporting
// its address (useful with port 0); serving errors go to errc.
func ServeMetrics(ctx context.Context, addr string, allowNonLoopback bool, reg *prometheus.Registry, ready func() error) (net.Addr, <-chan error, error) {
	if err := CheckMetricsAddr(addr, allowNonLoopback); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return ln.Addr(), errc, nil
}
