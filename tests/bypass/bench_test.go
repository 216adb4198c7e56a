package bypass

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// BenchmarkOpenClose measures open+close of a file in the granted directory
// in one child, first unconfined, then unconfined while a confined sibling
// lives, then under Landlock, then under Landlock + seccomp, and reports
// each against the unconfined run of the same process:
//
//	beside-confined/unconfined   the cost confinement puts on OTHER processes
//	landlock/unconfined          the cost Landlock puts on the confined one
//	landlock+seccomp/unconfined
//
// The child measures itself with testing.Benchmark, so this benchmark does
// one child per iteration; run it with -benchtime=1x.
func BenchmarkOpenClose(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("root missing: the child unshares a mount namespace")
	}
	if err := (LandlockSeccomp{}).Available(); err != nil {
		b.Skip(err)
	}
	helper := suiteHelper(b)
	var runs []benchReport
	for range b.N {
		var r benchReport
		e := NewEnv(b, helper, false)
		cmd := helperCommand(e, e.Helper, roleBench, nil)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("bench child: %v\n%s", err, stderr.String())
		}
		if err := json.Unmarshal(out, &r); err != nil || r.Error != "" {
			b.Fatalf("bench child: %q %v %s", out, err, r.Error)
		}
		runs = append(runs, r)
	}
	// Medians over the children: one noisy neighbour on a shared machine
	// should not decide the ratio.
	b.ReportMetric(median(runs, func(r benchReport) float64 { return r.Unconfined }), "unconfined-ns/op")
	b.ReportMetric(median(runs, func(r benchReport) float64 { return r.UnconfinedAgain / r.Unconfined }), "noise:again/unconfined")
	b.ReportMetric(median(runs, func(r benchReport) float64 { return r.BesideConfined / r.Unconfined }), "beside-confined/unconfined")
	b.ReportMetric(median(runs, func(r benchReport) float64 { return r.Landlock / r.Unconfined }), "landlock/unconfined")
	b.ReportMetric(median(runs, func(r benchReport) float64 { return r.LandlockSeccomp / r.Unconfined }), "landlock+seccomp/unconfined")
	b.ReportMetric(0, "ns/op") // the parent's time is process start-up, not the measurement
}

func median(runs []benchReport, f func(benchReport) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
