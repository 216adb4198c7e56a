package differential

import (
	"fmt"
	"testing"

	"github.com/capfd/capfd/broker/notify"
	"github.com/capfd/capfd/rights"
)

// kernelRunBackend is `capfd run --mode kernel`: the program runs in its
// view of the filesystem (vfsops.BuildView), and the kernel answers the
// path syscalls it decides exactly as the model does for the batch's grants
// (broker/notify: kernelmode.go), the supervisor the rest.
//
// Which syscalls the kernel answers depends on every grant of the run, so
// cases are batched by their grants' rights: a case whose grants carry
// stat runs with the kernel answering stat, whatever other cases lack.
// Kernel mode needs lookup in every grant (the kernel cannot refuse a
// lookup) and read-only opens Landlock decides as the model does
// (notify.LandlockReaddirExact, LandlockNestedReadExact): the cases
// without them cannot be spelled here, and `capfd run --mode kernel`
// refuses them.
type kernelRunBackend struct{}

func (kernelRunBackend) Name() string { return "capfd-run-kernel" }

func (kernelRunBackend) Available() error { return runBackend{}.Available() }

func (kernelRunBackend) Inexpressible(c *Case) string {
	for _, p := range c.pairs() {
		switch {
		case !p.Base.Has(rights.Lookup) || !p.Inherit.Has(rights.Lookup):
			return "kernel mode needs lookup in every grant"
		case !notify.LandlockReaddirExact(p):
			return "kernel mode needs readdir alike on a directory and beneath it"
		}
	}
	if c.Nested && !notify.LandlockNestedReadExact(c.Outer, c.Inner, true) {
		return "kernel mode needs a nested grant no narrower in read and readdir"
	}
	return ""
}

func (kernelRunBackend) Run(t *testing.T, cases []*Case, roots []string) []string {
	// Batches of cases with the same grants, in the order first seen.
	var order []string
	batches := map[string][]int{}
	for i, c := range cases {
		key := fmt.Sprint(c.pairs())
		if _, ok := batches[key]; !ok {
			order = append(order, key)
		}
		batches[key] = append(batches[key], i)
	}
	out := make([]string, len(cases))
	for _, key := range order {
		idx := batches[key]
		for start := 0; start < len(idx); start += runBatch {
			part := idx[start:min(start+runBatch, len(idx))]
			var cs []*Case
			var rs []string
			for _, i := range part {
				cs, rs = append(cs, cases[i]), append(rs, roots[i])
			}
			for j, o := range runCapfdBatch(t, "kernel", cs, rs) {
				out[part[j]] = o
			}
		}
	}
	return out
}

// pairs are the rights of the case's grants.
func (c *Case) pairs() []rights.Pair {
	if c.Nested {
		return []rights.Pair{c.Outer, c.Inner}
	}
	return []rights.Pair{c.Outer}
}
