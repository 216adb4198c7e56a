package capfd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capfd/capfd/broker/wire"
	"github.com/capfd/capfd/rights"
)

// EnvBrokerFD names the environment variable through which a launcher
// passes an already-connected broker socket to the program it starts.
const EnvBrokerFD = "CAPFD_BROKER_FD"

// Remote is a connection to a capfd broker. Its directories are *Dir values
// like local ones, so code written against local handles runs unchanged
// against a broker; every operation on them becomes one request. A Remote
// is safe for concurrent use: requests from many goroutines are pipelined
// on the one connection and their replies matched by request id.
type Remote struct {
	conn   *wire.Conn
	limits wire.Limits
	answer rights.Answer
	roots  []wire.Root
	t      *remoteTransport

	directIO atomic.Bool // see SetDirectIO

	nextID   atomic.Uint32
	inflight chan struct{} // a slot per request in flight, up to the broker's limit

	// reader is a token (capacity 1) held by the one waiting caller that
	// reads the socket; see wait.
	reader chan struct{}

	mu      sync.Mutex
	pending map[uint32]chan callResult // by request id; nil channel: reply is discarded
	dead    error                      // set once the connection is unusable; matches ErrBrokerClosed
	reset   error                      // a recv's ECONNRESET, kept while what was queued is read (see readOne)
	fds     map[handleID]int           // descriptors the broker passed, by handle

	version uint8  // the protocol version the handshake chose
	out     outbox // requests waiting to be sent (remote_send.go)
}

type callResult struct {
	rep wire.Reply
	fd  int
	buf *[]byte // the receive buffer rep.Data aliases; returned to the pool by the caller
	err error
}

var recvBufs = sync.Pool{New: func() any { b := make([]byte, wire.MaxMessage); return &b }}

// ErrBrokerClosed is matched (errors.Is) by the error of every call on a
// Remote whose connection is over: closed by Remote.Close, closed by the
// broker (the error then also carries the broker's reason: a *BrokerError,
// whose errno errors.Is matches too), or failed.
var ErrBrokerClosed = errors.New("capfd: broker connection closed")

// Dial connects to the broker listening on the SOCK_SEQPACKET Unix socket
// at path and performs the handshake. It waits as long as the broker
// takes to answer; DialContext bounds the wait.
func Dial(path string) (*Remote, error) { return DialContext(context.Background(), path) }

// DialContext is Dial bounded by ctx: connecting and the handshake give up
// when ctx is done, with an error matching ctx's error
// (context.DeadlineExceeded for a broker that accepts and never answers).
// ctx does not govern the Remote once DialContext has returned; see
// SetDeadline for that.
func DialContext(ctx context.Context, path string) (*Remote, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("capfd: dial broker: %w", err)
	}
	return newRemote(ctx, c.(*net.UnixConn))
}

// FromEnv connects through the socket a launcher left open for this
// process, named by the CAPFD_BROKER_FD environment variable. The variable
// is removed and the inherited descriptor replaced by the Remote's own, so
// that programs this one starts do not inherit the connection by accident.
func FromEnv() (*Remote, error) { return FromEnvContext(context.Background()) }

// FromEnvContext is FromEnv with the handshake bounded by ctx, as in
// DialContext.
func FromEnvContext(ctx context.Context) (*Remote, error) {
	v, ok := os.LookupEnv(EnvBrokerFD)
	if !ok {
		return nil, fmt.Errorf("capfd: %s is not set: not started under a broker", EnvBrokerFD)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("capfd: %s=%q is not a descriptor number", EnvBrokerFD, v)
	}
	f := os.NewFile(uintptr(fd), "capfd-broker")
	if f == nil {
		return nil, fmt.Errorf("capfd: %s=%d is not an open descriptor", EnvBrokerFD, fd)
	}
	c, err := net.FileConn(f) // dups the descriptor, close-on-exec
	f.Close()
	os.Unsetenv(EnvBrokerFD)
	if err != nil {
		return nil, fmt.Errorf("capfd: %s=%d: %w", EnvBrokerFD, fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("capfd: %s=%d is not a Unix socket", EnvBrokerFD, fd)
	}
	return newRemote(ctx, uc)
}

// NewRemote performs the handshake on an already-connected SOCK_SEQPACKET
// socket (one end of a socketpair, say) and takes ownership of it.
func NewRemote(uc *net.UnixConn) (*Remote, error) { return newRemote(context.Background(), uc) }

func newRemote(ctx context.Context, uc *net.UnixConn) (*Remote, error) {
	r := &Remote{
		conn:    wire.NewConn(uc),
		pending: make(map[uint32]chan callResult),
		fds:     make(map[handleID]int),
		reader:  make(chan struct{}, 1),
	}
	r.t = &remoteTransport{r: r}
	if err := r.handshakeContext(ctx, uc); err != nil {
		uc.Close()
		return nil, err
	}
	return r, nil
}

// handshakeContext is the handshake on uc, given up when ctx is done: its
// deadline is the socket's, and a cancellation moves the socket's deadline
// to the past. The socket has no deadline afterwards.
func (r *Remote) handshakeContext(ctx context.Context, uc *net.UnixConn) error {
	if ctx.Done() == nil {
		return r.handshake()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("capfd: handshake: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := uc.SetDeadline(deadline); err != nil {
			return fmt.Errorf("capfd: handshake: %w", err)
		}
	}
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		uc.SetDeadline(time.Unix(1, 0))
		close(cancelled)
	})
	err := r.handshake()
	if !stop() {
		<-cancelled // its past deadline is set: clear it after, not before
	}
	if err != nil {
		if cause := ctx.Err(); cause != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			if cause == nil { // the socket's deadline came a moment before ctx's
				cause = context.DeadlineExceeded
			}
			return fmt.Errorf("capfd: handshake: no answer from the broker: %w", cause)
		}
		return err
	}
	return uc.SetDeadline(time.Time{})
}

func (r *Remote) handshake() error {
	msg, err := wire.AppendRequest(nil, &wire.Request{
		ID: 1, Op: wire.OpHello, VersionMin: wire.MinVersion, VersionMax: wire.MaxVersion, Requested: rights.All,
	})
	if err != nil {
		return err
	}
	if err := r.conn.Send(msg, -1); err != nil {
		return fmt.Errorf("capfd: handshake: %w", err)
	}
	bufp := recvBufs.Get().(*[]byte)
	defer recvBufs.Put(bufp)
	rep, fd, err := r.conn.RecvReply(*bufp)
	if err != nil {
		return fmt.Errorf("capfd: handshake: %w", err)
	}
	closeIfValid(fd)
	if rep.Err != nil {
		return fmt.Errorf("capfd: handshake: %w", remoteError(rep.Op, rep.Err))
	}
	if rep.Op != wire.OpHello || rep.ID != 1 {
		return fmt.Errorf("capfd: handshake: unexpected %v reply %d", rep.Op, rep.ID)
	}
	if rep.Version < wire.MinVersion || rep.Version > wire.MaxVersion {
		return fmt.Errorf("capfd: handshake: broker chose protocol version %d, this client speaks %d..%d", rep.Version, wire.MinVersion, wire.MaxVersion)
	}
	if rep.Limits.MaxInflight == 0 || rep.Limits.MaxMessage < wire.HeaderSize+64 {
		return fmt.Errorf("capfd: handshake: unusable limits %+v", rep.Limits)
	}
	r.limits, r.answer, r.roots, r.version = rep.Limits, rep.Answer, rep.Roots, rep.Version
	r.inflight = make(chan struct{}, rep.Limits.MaxInflight)
	r.nextID.Store(1)
	return nil
}

// Roots returns the names of the directories the broker granted.
func (r *Remote) Roots() []string {
	names := make([]string, 0, len(r.roots))
	for _, root := range r.roots {
		names = append(names, root.Name)
	}
	return names
}

// Supported returns the broker's answer to the handshake's question of
// which rights it supports (statx-style: the known part of rights.All as
// this client knows it).
func (r *Remote) Supported() rights.Answer { return r.answer }

// Dir returns a new handle to the granted directory name, with the rights
// of the grant. Each call returns an independent *Dir (a duplicate of the
// broker's root handle), to be closed by the caller.
func (r *Remote) Dir(name string) (*Dir, error) {
	i := slices.IndexFunc(r.roots, func(root wire.Root) bool { return root.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("capfd: broker grants no directory %q (granted: %v)", name, r.Roots())
	}
	root := r.roots[i]
	h, err := r.t.Dup(handleID(root.Handle), root.Rights)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	return &Dir{t: r.t, h: h, rights: root.Rights, name: name}, nil
}

// SetDirectIO switches direct I/O on or off for files opened from now on.
//
// Off (the default), every operation is a request to the broker, which
// sees, checks and (with all_operations) audits each read and write.
//
// On, opening a file also fetches its descriptor, which the broker passes
// only in an access mode the file's rights allow (never for append-only
// or O_PATH handles), and reads, writes, seeks, fstat and getdents then go
// straight to the kernel on that descriptor: a 4 KiB read costs a system
// call instead of a round trip. Rights are still checked by the File
// before each call, and the descriptor's access mode bounds what any code
// in the process could do with it anyway; what changes is that the broker
// no longer sees those calls. Metadata changes (truncate, chmod, chown,
// chtimes, sync, locks, xattrs) always go through the broker.
func (r *Remote) SetDirectIO(on bool) { r.directIO.Store(on) }

// SetDeadline bounds the wait for the broker, as net.Conn's SetDeadline
// does: once t has passed, the call waiting then and every later one fail
// with an error matching os.ErrDeadlineExceeded and ErrBrokerClosed, and
// the connection is over (a reply that came later could not be told from
// one to a newer request). It is for giving up on a broker that stopped
// answering: set it before a call (time.Now().Add(timeout)), and move it
// on, or clear it with the zero time, while the broker keeps answering.
func (r *Remote) SetDeadline(t time.Time) error { return r.conn.UnixConn().SetDeadline(t) }

// Close closes the connection. The broker then releases every handle of
// this client; Dirs and Files from r fail afterwards.
func (r *Remote) Close() error {
	r.mu.Lock()
	if r.dead == nil {
		r.dead = ErrBrokerClosed
	}
	for h, fd := range r.fds {
		closeIfValid(fd)
		delete(r.fds, h)
	}
	r.mu.Unlock()
	r.out.mu.Lock()
	if r.out.timer != nil {
		r.out.timer.Stop()
	}
	r.out.mu.Unlock()
	return r.conn.Close()
}
