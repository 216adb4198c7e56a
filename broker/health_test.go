package broker

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/capfd/capfd/broker/brokertest"
	"github.com/capfd/capfd/internal/testwait"
)

// TestReadyz: /readyz is 503 before Serve accepts clients and again once
// its context is cancelled, 200 in between; /healthz is 200 throughout.
func TestReadyz(t *testing.T) {
	srv := newServer(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := ServeMetrics(ctx, "127.0.0.1:0", false, srv.Registry(), srv.Ready)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != "not ready: "+ErrNotServing.Error()+"\n" {
		t.Errorf("/readyz before Serve: %d %q", code, body)
	}
	_, stop := brokertest.Listen(t, "", srv.Serve)
	testwait.Until(t, "/readyz 200 while serving", asyncTimeout, func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, body := get("/readyz"); body != "ready\n" {
		t.Errorf("/readyz serving: %d %q", code, body)
	}
	stop()
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after Serve returned: %d, want 503", code)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
}
