// Package testwait is the one way the tests wait for something to
// happen: a bounded poll of a condition the code under test exposes (a
// metric, a counter, a state in /proc), instead of a sleep that hopes the
// thing has happened by then.
//
// The deadline is no part of what a test checks: it only turns a hang
// into a failure that names what never happened. Make it generous (the
// suite also runs under TCG and beside a busy CI), never tight.
package testwait

import (
	"testing"
	"time"
)

// interval is how often a condition is polled: often enough that a test
// waits little past the moment the condition holds, rarely enough that
// polling (an HTTP scrape of the metrics, a walk of /proc) does not
// starve what it waits for.
const interval = 10 * time.Millisecond

// For polls cond until it holds or timeout passes, and says whether it
// held. It is for a caller that reports a timeout itself (with what it
// saw) or for whom the timeout is an outcome to check.
func For(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// Until polls cond until it holds; if it does not within timeout the test
// fails at once with "timed out after <timeout> waiting for: <what>", so
// what names the awaited event ("the lock request is in flight").
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !For(timeout, cond) {
		t.Fatalf("timed out after %v waiting for: %s", timeout, what)
	}
}

// Recv waits for a value on ch and returns it; if none comes within
// timeout the test fails at once with "timed out after <timeout> waiting
// for: <what>". It is for a result another goroutine sends (Serve's
// return, a blocked call's error), where a hang is the failure.
func Recv[T any](t testing.TB, what string, timeout time.Duration, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		panic("unreachable")
	}
}
