package enforce

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/capfd/capfd/broker"
	"github.com/capfd/capfd/rights"
)

// sandbox is one confined client process (and what it forks), shared by
// all of its connections.
type sandbox struct {
	id     uint32
	conns  int
	client broker.Identity // the first connection's, PidFD cleared: for the audit log
	grants map[inode]rights.Pair
}

// inode is the key the LSM programs look grants up by.
type inode struct{ dev, ino uint64 }

// grantedInode is a root grant resolved to the inode the kernel will see.
type grantedInode struct {
	name  string
	key   inode
	isDir bool
	r     rights.Pair
}

// OnConnect is the broker's connect hook (broker.Config.OnConnect): it
// confines the client's process to the grants it is about to receive.
//
// The process is marked with a new sandbox, or, if it already belongs to a
// live one (a second connection, or a child of a connected process), joins
// it: the sandbox then holds the union of both connections' grants. That
// widens nothing a process could not reach already, since processes in one
// sandbox can hand each other descriptors.
//
// Without BPF LSM it does nothing. With it, a client that cannot be marked
// is refused: serving it would leave it unconfined while the broker claims
// otherwise.
func (k *Kernel) OnConnect(id broker.Identity, grants []broker.GrantedObject) (release func(), err error) {
	if k.lsm == nil {
		return nil, nil
	}
	if id.PidFD < 0 {
		return nil, errors.New("enforce: no pidfd for the client: it cannot be marked")
	}
	if int(id.PID) == os.Getpid() {
		// Over ServeConn the peer is the caller itself; marking the
		// broker would confine the broker.
		return nil, errors.New("enforce: the client is the broker's own process: it cannot be marked")
	}
	inodes := granted(grants)

	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errClosed
	}
	sb, joined, err := k.sandboxFor(id)
	if err != nil {
		return nil, err
	}
	if err := k.grant(sb, inodes); err != nil {
		if sb.conns == 0 {
			// A fresh sandbox: nothing else uses it. Its process stays
			// marked, with whatever was granted revoked.
			k.revoke(sb)
		}
		return nil, err
	}
	sb.conns++
	k.audit.Info("kernel sandbox", "client", sb.client, "sandbox", sb.id, "joined", joined, "grants", len(inodes))
	return sync.OnceFunc(func() { k.release(sb) }), nil
}

// granted is the inodes to grant: those of the directories the broker
// opened and serves (broker.GrantedObject.ID), never a second lookup of
// the grants' paths, which could name another file by then. A broker
// grant is always a directory.
func granted(grants []broker.GrantedObject) []grantedInode {
	out := make([]grantedInode, 0, len(grants))
	for _, g := range grants {
		out = append(out, grantedInode{
			name:  g.Name,
			key:   inode{dev: g.ID.Dev, ino: g.ID.Ino},
			isDir: true,
			r:     g.Rights,
		})
	}
	return out
}

// sandboxFor returns the live sandbox id's process belongs to, or marks it
// with a new one. Called with k.mu held.
func (k *Kernel) sandboxFor(id broker.Identity) (sb *sandbox, joined bool, err error) {
	current, err := k.lsm.SandboxOf(id.PidFD)
	if err != nil {
		return nil, false, fmt.Errorf("enforce: read the client's mark: %w", err)
	}
	if sb, ok := k.sandboxes[current]; ok && current != 0 {
		return sb, true, nil
	}
	// current may be a revoked sandbox (the process connected before):
	// the new mark replaces it.
	sid := k.nextID()
	if err := k.lsm.Mark(id.PidFD, sid); err != nil {
		return nil, false, fmt.Errorf("enforce: mark client pid %d: %w", id.PID, err)
	}
	client := id
	client.PidFD = -1
	sb = &sandbox{id: sid, client: client, grants: make(map[inode]rights.Pair)}
	k.sandboxes[sid] = sb
	return sb, false, nil
}

// nextID allocates a sandbox id: never 0 (unmarked), never a live one.
// Revoked ids are not reused before the 32-bit counter wraps.
func (k *Kernel) nextID() uint32 {
	for {
		k.lastID++
		if _, live := k.sandboxes[k.lastID]; k.lastID != 0 && !live {
			return k.lastID
		}
	}
}

// grant records inodes in sb, each with the union of what sb's
// connections were granted on it (the kernel map keeps one pair per inode).
func (k *Kernel) grant(sb *sandbox, inodes []grantedInode) error {
	for _, g := range inodes {
		r := g.r
		if prev, ok := sb.grants[g.key]; ok {
			r = rights.Pair{Base: prev.Base.Union(r.Base), Inherit: prev.Inherit.Union(r.Inherit)}
		}
		if err := k.lsm.Grant(sb.id, g.key.dev, g.key.ino, r, g.isDir); err != nil {
			return fmt.Errorf("enforce: grant %q to sandbox %d: %w", g.name, sb.id, err)
		}
		sb.grants[g.key] = r
	}
	return nil
}

// release ends one connection of sb; the last one revokes its grants.
func (k *Kernel) release(sb *sandbox) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sb.conns--
	if sb.conns > 0 || k.closed {
		return
	}
	k.revoke(sb)
}

// revoke removes sb's grants from the kernel and forgets sb. Its
// processes stay marked: from now on they may touch nothing through the
// kernel. Called with k.mu held.
func (k *Kernel) revoke(sb *sandbox) {
	delete(k.sandboxes, sb.id)
	if k.revoked == nil {
		k.revoked = make(map[uint32]broker.Identity)
	}
	if len(k.revokedOrder) == maxRevoked {
		delete(k.revoked, k.revokedOrder[0])
		k.revokedOrder = k.revokedOrder[1:]
	}
	k.revoked[sb.id] = sb.client
	k.revokedOrder = append(k.revokedOrder, sb.id)
	n, err := k.lsm.RevokeSandbox(sb.id)
	if err != nil {
		k.log.Error("kernel sandbox revoke failed", "sandbox", sb.id, "err", err)
		return
	}
	k.audit.Info("kernel sandbox revoked", "client", sb.client, "sandbox", sb.id, "grants", n)
}

// Sandboxes returns how many sandboxes are live (have a connection).
func (k *Kernel) Sandboxes() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.sandboxes)
}
