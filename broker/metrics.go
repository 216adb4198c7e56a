package broker

import (
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
	"github.com/prometheus/client_golang/prometheus"
)

// Results of an operation, the "result" label of the operations counter.
const (
	resultOK       = "ok"
	resultDenied   = "denied"    // the handle lacked rights
	resultError    = "error"     // the system call failed
	resultLimit    = "limit"     // a broker limit was hit
	resultBad      = "malformed" // the request broke the protocol or named no handle
	resultShutdown = "shutdown"
)

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
	refused   prometheus.Counter
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

var allResults = []string{resultOK, resultDenied, resultError, resultLimit, resultBad, resultShutdown}

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
			"Requests served, by operation and result (ok, denied, error, limit, malformed, shutdown).")),
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
		refused: newCounter("clients_refused_total",
			"Connections refused: no policy rule matched, or the handshake failed."),
		malformed: newCounter("malformed_messages_total", "Messages rejected by the protocol decoder."),
	}
	for _, c := range []prometheus.Collector{m.ops, m.denials, m.latency, m.clients, m.handles, m.inflight, m.blocking, m.refused, m.malformed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
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
