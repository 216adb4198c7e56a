package broker_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
)

// TestReadOnlyNeverWritesBrokerProcess runs every write attempt against the
// broker process through a raw client: each succeeds through a read-write
// grant (so the attempts are real) and fails through a read-only one,
// leaving the file as it was and passing no writable descriptor.
func TestReadOnlyNeverWritesBrokerProcess(t *testing.T) {
	base := t.TempDir()
	grants := map[string]rights.Pair{"rw": rights.Uniform(rights.ReadWrite | rights.Chown), "ro": rights.Uniform(rights.ReadOnly)}
	for name := range grants {
		os.Mkdir(filepath.Join(base, name), 0o755)
	}
	b := startBroker(t, []grantSpec{{"rw", filepath.Join(base, "rw"), grants["rw"].String()}, {"ro", filepath.Join(base, "ro"), grants["ro"].String()}}, "")
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: b.socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	rc := brokertest.NewRawClient(t, uc)
	for i, at := range brokertest.WriteAttempts() {
		t.Run(at.Name, func(t *testing.T) {
			rc.T = t
			for _, name := range []string{"rw", "ro"} {
				sub := fmt.Sprint(i)
				host := filepath.Join(base, name, sub)
				os.Mkdir(host, 0o755)
				before := brokertest.PrepareWriteTree(t, host)
				rep, _ := rc.Call(&wire.Request{Op: wire.OpOpenDir, Handle: rc.Roots[name], Path: sub, Pair: grants[name]})
				if rep.Err != nil {
					t.Fatalf("opendir: %+v", *rep.Err)
				}
				changed := at.Try(t, rc, rep.NewHandle)
				touched := brokertest.Touched(host, before)
				if name == "rw" {
					if !changed && !touched {
						t.Errorf("read-write grant: the attempt did not succeed, so it proves nothing")
					}
				} else if changed || touched {
					t.Errorf("read-only grant: the attempt succeeded (reply ok: %v, file changed: %v)", changed, touched)
				}
			}
		})
	}
}
