package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/capfd/capfd/vfsops"

	"github.com/capfd/capfd/broker/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what one client can make the broker hold. Exceeding one
// gets the client an error reply (wire.CodeLimit), never a crash.
type Limits struct {
	MaxHandles  int // open handles per client, roots included
	MaxInflight int // requests per client being served at once
	MaxMessage  int // bytes per message, header included
	MaxClients  int // clients Serve serves at once (ServeConn's are not counted)
	// MaxBlocking and MaxBlockingTotal bound the requests that may block
	// in a system call (see blocking.go) being served at once, per client
	// and over all clients; each pins a thread while it waits. New lowers
	// MaxBlockingTotal to what RLIMIT_NPROC leaves room for.
	MaxBlocking      int
	MaxBlockingTotal int
}

// DefaultLimits are used for every zero field of Config.Limits.
var DefaultLimits = Limits{MaxHandles: 1024, MaxInflight: 64, MaxMessage: wire.MaxMessage, MaxClients: 256, MaxBlocking: 16, MaxBlockingTotal: 256}

// Config configures a Server.
type Config struct {
	// Policy decides what clients accepted by Serve are granted.
	// ServeConn ignores it: its caller names the grants.
	Policy Policy
	Limits Limits
	// Audit receives a structured record of every denial (and of every
	// operation with AuditAll), and of connects, refusals and disconnects.
	// Nil discards them.
	Audit    *slog.Logger
	AuditAll bool
	// Log receives operational messages. Nil discards them.
	Log *slog.Logger
	// Registry receives the broker's metrics. Nil: a new private registry,
	// available from Server.Registry. The global registry is never used,
	// so several brokers (and tests) never share counters.
	Registry *prometheus.Registry
	// DrainTimeout bounds shutdown: after the context is cancelled, requests
	// already read get this long to finish and their replies to be sent;
	// then the connections close regardless (a request stuck in a system
	// call keeps only its goroutine). Zero means 5 seconds.
	DrainTimeout time.Duration
	// IdleTimeout ends a connection accepted by Serve that has had no
	// request in flight and received none for this long, freeing its slot
	// and handles; the client is told why first. Zero means 5 minutes;
	// NoIdleTimeout (any negative value) never. ServeConn's connections
	// (a launcher's child) are never timed out.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds how long a new connection may take to say
	// hello: a client that connects and says nothing is told so and
	// dropped. It holds no client slot meanwhile. Zero means 10 seconds.
	HandshakeTimeout time.Duration
	// OnConnect, if set, runs for every client before it is served, with
	// the grants the client is about to receive, as opened: each with the
	// identity of the directory the broker serves for it. An error refuses
	// the client. The kernel layer (package broker/enforce) uses it to mark
	// the client's process through id.PidFD and to grant those inodes: the
	// objects the client's handles are, not what the grants' paths name by
	// the time a second lookup of them is made.
	// The release it returns (nil for none) runs once the connection is
	// over, whether or not the client was then served; id.PidFD is no
	// longer valid by then. Over ServeConn, id is the caller's own process
	// (see ServeConn).
	OnConnect func(id Identity, grants []GrantedObject) (release func(), err error)
}

// GrantedObject is a grant as the broker opened it for a client.
type GrantedObject struct {
	Grant
	// ID is the (device, inode) of the directory the broker serves for
	// the grant, read from the descriptor it serves.
	ID vfsops.FileID
}

// NoIdleTimeout as Config.IdleTimeout keeps idle clients connected.
const NoIdleTimeout time.Duration = -1

// DefaultIdleTimeout is used for a zero Config.IdleTimeout.
const DefaultIdleTimeout = 5 * time.Minute

// DefaultHandshakeTimeout is used for a zero Config.HandshakeTimeout.
const DefaultHandshakeTimeout = 10 * time.Second

func (c *Config) setDefaults() error {
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Limits.MaxHandles == 0 {
		c.Limits.MaxHandles = DefaultLimits.MaxHandles
	}
	if c.Limits.MaxInflight == 0 {
		c.Limits.MaxInflight = DefaultLimits.MaxInflight
	}
	if c.Limits.MaxMessage == 0 {
		c.Limits.MaxMessage = DefaultLimits.MaxMessage
	}
	if c.Limits.MaxClients == 0 {
		c.Limits.MaxClients = DefaultLimits.MaxClients
	}
	if c.Limits.MaxBlocking == 0 {
		c.Limits.MaxBlocking = min(DefaultLimits.MaxBlocking, c.Limits.MaxInflight)
	}
	if c.Limits.MaxBlockingTotal == 0 {
		c.Limits.MaxBlockingTotal = DefaultLimits.MaxBlockingTotal
	}
	switch {
	case c.Limits.MaxHandles < 1 || c.Limits.MaxHandles > 1<<20:
		return fmt.Errorf("broker: max handles %d outside 1..%d", c.Limits.MaxHandles, 1<<20)
	case c.Limits.MaxInflight < 1 || c.Limits.MaxInflight > 4096:
		return fmt.Errorf("broker: max in-flight %d outside 1..4096", c.Limits.MaxInflight)
	case c.Limits.MaxMessage < 4096 || c.Limits.MaxMessage > wire.MaxMessage:
		return fmt.Errorf("broker: max message %d outside 4096..%d", c.Limits.MaxMessage, wire.MaxMessage)
	case c.Limits.MaxClients < 1:
		return fmt.Errorf("broker: max clients %d below 1", c.Limits.MaxClients)
	case c.Limits.MaxBlocking < 1 || c.Limits.MaxBlocking > c.Limits.MaxInflight:
		return fmt.Errorf("broker: max blocking %d outside 1..%d (max in-flight)", c.Limits.MaxBlocking, c.Limits.MaxInflight)
	case c.Limits.MaxBlockingTotal < 1 || c.Limits.MaxBlockingTotal > maxBlockingTotal:
		return fmt.Errorf("broker: max blocking total %d outside 1..%d", c.Limits.MaxBlockingTotal, maxBlockingTotal)
	}
	for i := range c.Policy.Rules {
		if err := c.Policy.Rules[i].validate(); err != nil {
			return fmt.Errorf("broker: policy: %w", err)
		}
	}
	discard := slog.New(slog.DiscardHandler)
	if c.Audit == nil {
		c.Audit = discard
	}
	if c.Log == nil {
		c.Log = discard
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return nil
}
