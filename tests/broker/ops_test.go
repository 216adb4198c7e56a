package broker_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
)

// TestEveryOpAgainstBrokerProcess runs every operation of the protocol
// against the broker process, through a raw client that skips capfd's
// client-side checks (so every denial is the broker's): allowed on a
// handle holding what the op needs, denied (not capable, file untouched,
// counted in the process's metrics) on one holding everything else.
func TestEveryOpAgainstBrokerProcess(t *testing.T) {
	base := t.TempDir()
	b := startBroker(t, []grantSpec{{"root", base, "all"}}, "")
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: b.socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	rc := brokertest.NewRawClient(t, uc)
	root := rc.Roots["root"]
	for _, tc := range brokertest.OpCases() {
		t.Run(tc.Op.String(), func(t *testing.T) {
			rc.T = t
			for _, allowed := range []bool{true, false} {
				caseDir := fmt.Sprintf("%s-%v", tc.Op, allowed)
				host := filepath.Join(base, caseDir)
				if err := os.Mkdir(host, 0o755); err != nil {
					t.Fatal(err)
				}
				xattrs := brokertest.MakeOpTree(t, host)
				brokertest.RunOpCase(t, rc, root, caseDir, host, xattrs, tc, allowed)
			}
			series := fmt.Sprintf(`capfd_broker_operations_total{op=%q,result="denied"}`, tc.Op.String())
			if got := b.metric(t, series); got != 1 {
				t.Errorf("%s = %v, want 1", series, got)
			}
		})
	}
}
