package broker_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/capfd/capfd/capfd"
	"github.com/capfd/capfd/internal/testwait"
	"golang.org/x/sys/unix"
)

// TestIdleTimeoutFlag: `capfd broker --idle-timeout` reaches the running
// broker: a client idle for longer is disconnected (the clients gauge
// drops, the audit log says why), and its next call fails with the
// broker's reason, not a bare closed connection.
func TestIdleTimeoutFlag(t *testing.T) {
	tests := []struct {
		flag, wantText string
	}{
		{"300ms", "no request for 300ms (the idle timeout)"},
	}
	for _, tc := range tests {
		t.Run(tc.flag, func(t *testing.T) {
			b := startBrokerWith(t, []grantSpec{{"data", tree(t), "ro"}}, brokerOptions{extraArgs: []string{"--idle-timeout", tc.flag}})
			r, err := capfd.Dial(b.socket)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			d, err := r.Dir("data")
			if err != nil {
				t.Fatal(err)
			}
			testwait.Until(t, "the idle client disconnected", asyncTimeout, func() bool { return b.metric(t, "capfd_broker_clients") == 0 })
			_, err = d.Stat("hello.txt")
			if !errors.Is(err, capfd.ErrBrokerClosed) || !errors.Is(err, unix.ETIMEDOUT) || err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("a call after %s idle: %v; want capfd.ErrBrokerClosed and ETIMEDOUT, naming %q", tc.flag, err, tc.wantText)
			}
			audit, _ := os.ReadFile(b.audit)
			if !strings.Contains(string(audit), `"reason":"idle"`) {
				t.Errorf("the audit log records no idle disconnect:\n%s", audit)
			}
		})
	}
}
