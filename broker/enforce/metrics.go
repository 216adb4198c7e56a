package enforce

import (
	"fmt"

	"github.com/capfd/capfd/broker/lsm"
	"github.com/prometheus/client_golang/prometheus"
)

// Register adds the kernel layer's metrics to reg (the broker's registry,
// broker.Server.Registry):
//
//   - capfd_kernel_backend_active{backend}: 1 or 0, as Backends reports;
//   - capfd_kernel_sandboxes: sandboxes live now;
//   - capfd_kernel_denials_total{hook}: operations the BPF LSM hooks
//     refused, counted in the kernel (so none is lost even when the ring
//     buffer overflows);
//   - capfd_kernel_denials_unreported_total{reason}: denials enforced but
//     not logged (ringbuf_full, queue_full).
func (k *Kernel) Register(reg prometheus.Registerer) error {
	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "capfd", Subsystem: "kernel", Name: "backend_active",
		Help: "1 if the kernel backend is in use (bpf-lsm: clients are marked) or usable (landlock, seccomp: by capfd run), else 0.",
	}, []string{"backend"})
	for _, b := range k.backends {
		v := 0.0
		if b.Active {
			v = 1
		}
		active.WithLabelValues(b.Name).Set(v)
	}
	sandboxes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "capfd", Subsystem: "kernel", Name: "sandboxes",
		Help: "Client sandboxes with at least one live connection.",
	}, func() float64 { return float64(k.Sandboxes()) })
	for _, c := range []prometheus.Collector{active, sandboxes, countsCollector{k}} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("enforce: register metrics: %w", err)
		}
	}
	return nil
}

var (
	denialsDesc = prometheus.NewDesc("capfd_kernel_denials_total",
		"Operations the BPF LSM hooks refused, by hook.", []string{"hook"}, nil)
	unreportedDesc = prometheus.NewDesc("capfd_kernel_denials_unreported_total",
		"Denials enforced but not written to the audit log, by reason.", []string{"reason"}, nil)
)

// countsCollector reads the kernel's per-hook counters at scrape time:
// they are the authority, the audit log only a (possibly lossy) copy.
type countsCollector struct{ k *Kernel }

func (c countsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- denialsDesc
	ch <- unreportedDesc
}

func (c countsCollector) Collect(ch chan<- prometheus.Metric) {
	if c.k.lsm == nil {
		return
	}
	for name, n := range c.k.lsm.Counts() {
		desc := denialsDesc
		if name == lsm.CounterRingbufFull || name == lsm.CounterQueueFull {
			desc = unreportedDesc
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), name)
	}
}
