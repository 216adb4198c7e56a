package broker

import (
	"context"
	"errors"
	"fmt"
	"github.com/capfd/capfd/vfsops"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is a broker. It serves any number of connections at once, each
// with its own handles and limits; a client that misbehaves or dies costs
// only its own connection.
type Server struct {
	cfg Config
	m   *metrics

	wg sync.WaitGroup // one per connection being served

	readBufs sync.Pool // receive buffers of Limits.MaxMessage bytes

	blocking gate // server-wide slots for requests that may block (blocking.go)

	accepted atomic.Int64 // clients Serve is serving now

	// policy is the policy new clients are admitted by: Config.Policy
	// until SetPolicy replaces it.
	policy atomic.Pointer[Policy]

	serving atomic.Bool // Serve is accepting clients (Ready)

	// conns numbers the connections, from 1: the audit log's "conn",
	// unique for the life of the process, ties a connection's records
	// together (connect, each operation, refusals, disconnect).
	conns atomic.Uint64

	idleDeferred atomic.Int64 // idle checks that found a request in flight (tests)
}

// New returns a Server for cfg, with defaults filled in.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Policy.CheckGrants(); err != nil {
		return nil, fmt.Errorf("broker: policy: %w", err)
	}
	if note := cfg.Limits.fitThreads(); note != "" {
		cfg.Log.Warn(note)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	// The verified procfs handle that client identification reads
	// through (procIdentity) is opened now, once for the life of the
	// process, rather than by the first client: a broker's descriptors
	// then stay what they are at start, however many clients come and go.
	if _, err := vfsops.ProcfsMode(); err != nil {
		cfg.Log.Warn("broker: no verified procfs handle: clients' exe and cgroup cannot be read", "err", err)
	}
	s := &Server{cfg: cfg, m: m, blocking: newGate(cfg.Limits.MaxBlockingTotal)}
	s.policy.Store(&cfg.Policy)
	s.readBufs.New = func() any { b := make([]byte, cfg.Limits.MaxMessage); return &b }
	return s, nil
}

// Registry returns the registry holding the broker's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// SetPolicy replaces the policy clients are admitted by, as
// `capfd broker` does on SIGHUP. It checks p as New does (patterns, grant
// names, every grant that is not Optional opens) and keeps the policy in
// force if p fails. The new policy decides for clients that connect from
// now on; a connected client keeps the grants it was admitted with, since
// its handles are descriptors the broker has already opened for it, until
// it disconnects.
func (s *Server) SetPolicy(p Policy) error {
	for i := range p.Rules {
		if err := p.Rules[i].validate(); err != nil {
			return fmt.Errorf("broker: policy: %w", err)
		}
	}
	if err := p.CheckGrants(); err != nil {
		return fmt.Errorf("broker: policy: %w", err)
	}
	s.policy.Store(&p)
	return nil
}

// ErrNotServing is Ready's answer while no Serve accepts clients: before
// it starts, and from the moment its context is cancelled (the drain).
var ErrNotServing = errors.New("broker: not accepting clients")

// Ready returns nil while Serve is accepting clients, else ErrNotServing:
// the broker's /readyz (ServeMetrics).
func (s *Server) Ready() error {
	if !s.serving.Load() {
		return ErrNotServing
	}
	return nil
}

// Limits returns the limits in force.
func (s *Server) Limits() Limits { return s.cfg.Limits }

// Serve accepts clients on ln until ctx is cancelled. Each client is
// identified (SO_PEERCRED and a pidfd), matched against the policy, and
// served with the grants of the first matching rule; a client no rule
// matches is refused. When ctx is cancelled Serve stops accepting, lets
// every connection finish the requests it has already read (drain), closes
// them, and returns nil. ln is closed on return.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	spare := newSpareFD()
	defer spare.close()
	// Said only now, with the spare descriptor held: whoever waits for
	// this line (an operator, the tests' descriptor baselines) sees the
	// broker as it will be while serving.
	// Ready before the line is said, so that whoever waits for it finds
	// /readyz ready.
	s.serving.Store(ctx.Err() == nil)
	defer s.serving.Store(false)
	stopReady := context.AfterFunc(ctx, func() { s.serving.Store(false) })
	defer stopReady()
	s.cfg.Log.Info("listening", "socket", ln.Addr().String(), "clients", len(s.policy.Load().Rules))
	var delay time.Duration
	for {
		uc, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				s.wg.Wait()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if outOfDescriptors(err) && s.refuseOutOfDescriptors(ln, spare) {
				continue
			}
			// Out of descriptors and the like: back off and retry, as
			// net/http does, rather than give up on every client.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.Log.Warn("accept failed; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveAccepted(ctx, uc)
		}()
	}
}

// ServeConn serves one pre-authenticated connection (typically one end of
// a socketpair whose other end a launcher gave its child) with grants,
// until the client disconnects or ctx is cancelled (then it drains as Serve
// does). It closes conn on return. It returns nil when the client simply
// went away.
func (s *Server) ServeConn(ctx context.Context, conn *net.UnixConn, grants []Grant) error {
	if err := validateGrants(grants); err != nil {
		conn.Close()
		return fmt.Errorf("broker: %w", err)
	}
	id, err := peerIdentity(conn)
	if err != nil {
		// A socketpair always has credentials; anything else is odd but
		// not a reason to refuse a connection the caller vouches for.
		id = Identity{PidFD: -1}
	}
	defer id.close()
	s.wg.Add(1)
	defer s.wg.Done()
	return s.serve(ctx, conn, s.conns.Add(1), id, "", grants, nil)
}
