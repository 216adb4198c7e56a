package broker

import (
	"errors"
	"runtime"
	"runtime/debug"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Results of an operation, the "result" label of the operations counter.
const (
	resultOK       = "ok"
	resultDenied   = "denied"    // the handle lacked rights
	resultError    = "error"     // the system call failed
	resultLimit    = "limit"     // a broker limit was hit
	resultBad      = "malformed" // the request broke the protocol or named no handle
	resultShutdown = "shutdown"
	resultEscape   = "escape" // the path led out of the handle's directory
)

// Why a client was refused a connection: the reason label of
// clients_refused_total and the reason of the audit log's "refused"
// records. A fixed set, so that nothing a client sends (a path, a name, an
// error's text) ever becomes a label value.
const (
	refusedNoIdentity  = "no_identity"        // its credentials could not be read
	refusedNoRule      = "no_rule"            // no policy rule matches it
	refusedHandshake   = "handshake"          // no hello, a bad one, no common version
	refusedClientLimit = "client_limit"       // max_clients are served
	refusedGrant       = "grant_unavailable"  // a grant's directory does not open
	refusedKernel      = "kernel_layer"       // the kernel layer would not confine it
	refusedHandles     = "handle_limit"       // its grants exceed max_handles
	refusedDescriptors = "out_of_descriptors" // the broker is out of descriptors
)

// RefusalReasons are every value of the reason label of
// capfd_broker_clients_refused_total.
var RefusalReasons = []string{refusedNoIdentity, refusedNoRule, refusedHandshake, refusedClientLimit, refusedGrant, refusedKernel, refusedHandles, refusedDescriptors}

// metrics are the broker's Prometheus collectors, registered in a private
// registry.
type metrics struct {
	ops       *prometheus.CounterVec   // op, result
	denials   *prometheus.CounterVec   // right
	latency   *prometheus.HistogramVec // op
	clients   prometheus.Gauge
	handles   prometheus.Gauge
	inflight  prometheus.Gauge
	blocking  prometheus.Gauge
	refused   *prometheus.CounterVec // reason
	malformed prometheus.Counter

	// perOp caches each op's series, indexed by op as the op tables are,
	// so that serving a request costs no label hashing; nil for an op this
	// build does not define.
	perOp [wire.OpEnd]*opSeries
}

type opSeries struct {
	results map[string]prometheus.Counter
	latency prometheus.Observer
}

var allResults = []string{resultOK, resultDenied, resultEscape, resultError, resultLimit, resultBad, resultShutdown}

// served counts one request of op with result and its latency.
func (m *metrics) served(op wire.Op, result string, seconds float64) {
	var s *opSeries
	if op < wire.OpEnd {
		s = m.perOp[op]
	}
	if s == nil {
		m.ops.WithLabelValues(opLabel(op), result).Inc()
		return
	}
	s.results[result].Inc()
	s.latency.Observe(seconds)
}

// metricOpts names the broker metric capfd_broker_<name> and says what it
// measures.
func metricOpts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "capfd", Subsystem: "broker", Name: name, Help: help}
}

func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts(metricOpts(name, help)))
}

func newCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts(metricOpts(name, help)))
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts(metricOpts("operations_total",
			"Requests served, by operation and result (ok, denied, escape, error, limit, malformed, shutdown).")),
			[]string{"op", "result"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts(metricOpts("denials_total",
			"Requests refused for lack of rights, by each right that was missing.")),
			[]string{"right"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "capfd", Subsystem: "broker", Name: "operation_duration_seconds",
			Help: "Time from a request's arrival to its reply being sent, by operation.",
			// 2 µs .. ~65 ms: brokered operations are microseconds; the
			// tail shows contention and slow filesystems.
			Buckets: prometheus.ExponentialBuckets(2e-6, 2, 16),
		}, []string{"op"}),
		clients:  newGauge("clients", "Clients connected now."),
		handles:  newGauge("handles", "Handles open now, over all clients."),
		inflight: newGauge("inflight", "Requests being served now, over all clients."),
		blocking: newGauge("blocking",
			"Requests that may block in a system call being served now, over all clients (each pins a thread while it waits)."),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts(metricOpts("clients_refused_total",
			"Connections refused, by reason: no_identity, no_rule, handshake, client_limit, grant_unavailable, kernel_layer, handle_limit, out_of_descriptors.")),
			[]string{"reason"}),
		malformed: newCounter("malformed_messages_total", "Messages rejected by the protocol decoder."),
	}
	for _, c := range []prometheus.Collector{m.ops, m.denials, m.latency, m.clients, m.handles, m.inflight, m.blocking, m.refused, m.malformed, buildInfo()} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// The standard collectors every Prometheus dashboard expects (go_*,
	// process_*); a registry the caller passed may have them already.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, err
		}
	}
	for _, r := range RefusalReasons {
		m.refused.WithLabelValues(r)
	}
	for _, name := range rights.All.Names() {
		m.denials.WithLabelValues(name)
	}
	// Create every op's series up front: a dashboard sees zeros rather
	// than gaps, and serving a request looks nothing up by label.
	for _, op := range wire.Ops() {
		s := &opSeries{results: make(map[string]prometheus.Counter), latency: m.latency.WithLabelValues(op.String())}
		for _, r := range allResults {
			s.results[r] = m.ops.WithLabelValues(op.String(), r)
		}
		m.perOp[op] = s
	}
	return m, nil
}

func (m *metrics) denied(missing rights.Rights) {
	for _, name := range missing.Names() {
		m.denials.WithLabelValues(name).Inc()
	}
}

// buildInfo is capfd_build_info: always 1, with the build's module
// version, VCS revision (with "-modified" for a dirty tree; "unknown"
// without VCS information, as in a test binary) and Go version as labels,
// from debug.ReadBuildInfo.
func buildInfo() prometheus.Collector {
	version, revision, goVersion := "unknown", "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && revision != "unknown" {
			revision += "-modified"
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "capfd", Name: "build_info",
		Help:        "Always 1: the capfd build, by module version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
