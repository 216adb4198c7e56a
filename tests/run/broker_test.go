package run

import (
	"testing"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/rights"
)

// With --broker the capability-aware program talks to an existing broker,
// and gets what that broker's policy grants (here: a directory the
// launcher's own --grant flags do not name).
func TestExternalBroker(t *testing.T) {
	requireRun(t)
	f := newFixture(t)
	srv, err := broker.New(broker.Config{Policy: broker.Policy{Rules: []broker.Rule{{
		Name:   "all",
		Grants: []broker.Grant{{Name: "secret", Path: f.secret, Rights: rights.Uniform(rights.ReadOnly)}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := brokertest.Listen(t, "", srv.Serve)

	flags := append(f.grants(), "--grant", bin.dir+"=rx", "--broker", sock)
	o := capfdRun(t, f.root, flags, bin.capaware, "s.txt")
	if o.code != 0 || o.stdout != "secret\n" {
		t.Fatalf("through the external broker: %+v", o)
	}
	// The same file by path is still refused: the broker channel is the
	// only way to it.
	o = capfdRun(t, f.root, flags, "cat", f.secret+"/s.txt")
	if o.code == 0 {
		t.Fatalf("cat of the broker-only file by path worked: %+v", o)
	}
}
