package brokertest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
)

// AuditLog collects a broker's audit log, a JSON slog stream, for a test
// to assert on; the broker's goroutines may write to it concurrently.
type AuditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *AuditLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns the text written so far: the raw stream, also for a
// writer that is no JSON log (a process's standard error).
func (l *AuditLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger is a JSON slog.Logger that writes to l.
func (l *AuditLog) Logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// Records returns the records written so far; a line that is not a JSON
// object fails the test.
func (l *AuditLog) Records(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := bytes.Clone(l.buf.Bytes())
	l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(data) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// RecordsOf returns the records whose message is msg.
func (l *AuditLog) RecordsOf(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range l.Records(t) {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
