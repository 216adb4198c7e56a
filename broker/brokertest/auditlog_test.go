package brokertest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestAuditLog: records written concurrently are all read back, whole,
// and RecordsOf picks them by message.
func TestAuditLog(t *testing.T) {
	var l AuditLog
	log := l.Logger()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { log.Info(fmt.Sprintf("msg%d", i%2), "i", i) })
	}
	wg.Wait()
	if recs := l.Records(t); len(recs) != 20 {
		t.Errorf("%d records, want 20", len(recs))
	}
	odd := l.RecordsOf(t, "msg1")
	if len(odd) != 10 {
		t.Fatalf("%d records of msg1, want 10", len(odd))
	}
	for _, rec := range odd {
		if i, ok := rec["i"].(float64); !ok || int(i)%2 != 1 {
			t.Errorf("record of msg1 with i %v", rec["i"])
		}
	}

	var bad AuditLog
	bad.Write([]byte("{\"msg\":\"x\"}\nnot json\n"))
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); bad.Records(r) }()
	<-done
	if !strings.Contains(r.fatal, "not json") {
		t.Errorf("a line that is not JSON: fatal %q, want it named", r.fatal)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one ends the test.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
