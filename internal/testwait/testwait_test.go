package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	var n atomic.Int32
	if !For(5*time.Second, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("For gave up on a condition that came to hold")
	}
	start := time.Now()
	if For(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("For said a condition held that never did")
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("For gave up after %v, before its timeout", el)
	}
}

func TestUntil(t *testing.T) {
	Until(t, "a condition that holds", time.Second, func() bool { return true })
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	go func() { ch <- 7 }()
	if v := Recv(t, "the value", 5*time.Second, ch); v != 7 {
		t.Fatalf("Recv = %d, want 7", v)
	}
}
