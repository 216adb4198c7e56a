//go:build linux

package lsm

import (
	_ "embed"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/capfd/capfd/rights"
)

// bpfSource is embedded so the test binary carries it into the VM guests,
// which run this package's tests too.
//
//go:embed bpf/capfd.bpf.c
//lint:ignore U1000 read by nothing on purpose: embedding is what carries the file into the guests
var bpfSource string

// TestRightsEnumMatchesPackage keeps the BPF program's copy of the rights
// bits (enum right in bpf/decide.h) equal to package rights, whose bit
// order is the ABI: each RIGHT_X = 1ULL << N must be the right named x
// (underscores as dashes) at bit N. A right renumbered or renamed on one
// side fails here instead of granting the wrong thing in the kernel.
func TestRightsEnumMatchesPackage(t *testing.T) {
	src := decideHeader
	entry := regexp.MustCompile(`(?m)^\s*RIGHT_([A-Z_]+)\s*=\s*1ULL\s*<<\s*(\d+),`)
	found := entry.FindAllStringSubmatch(src, -1)
	if len(found) < 20 {
		t.Fatalf("found only %d RIGHT_ entries in bpf/decide.h: the pattern no longer matches the source", len(found))
	}
	for _, m := range found {
		name := strings.ReplaceAll(strings.ToLower(m[1]), "_", "-")
		bit, _ := strconv.Atoi(m[2])
		want, err := rights.Parse(name)
		if err != nil {
			t.Errorf("RIGHT_%s: package rights has no right %q: %v", m[1], name, err)
			continue
		}
		if got := rights.Rights(1) << bit; got != want {
			t.Errorf("RIGHT_%s is bit %d (%#x), package rights has %s = %#x", m[1], bit, uint64(got), name, uint64(want))
		}
	}
}
