//go:build linux

package lsm

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
)

// CapMode is capability mode's kernel part for one sandbox: what of the
// ambient authority beyond files its policy (capmode.Policy) gives back.
// The zero CapMode gives back nothing: a marked task signals only tasks of
// its own sandbox, connects and binds no INET address but a granted TCP
// port, and connects or binds no Unix socket by name itself (under capfd
// run the supervisor, which is not marked, performs the granted ones).
//
// A sandbox for which SetCapMode was never called is not in capability
// mode: the signal and socket hooks leave its tasks alone, as the broker's
// clients (broker/enforce) need, which keep their ambient authority beyond
// files.
type CapMode struct {
	// ConnectTCP and BindTCP are the TCP ports the sandbox may connect
	// to and bind, by port only, as Landlock decides them.
	ConnectTCP, BindTCP []uint16
	// Net gives every INET address and port back (--allow-net); not Unix
	// socket names.
	Net bool
	// Abstract gives abstract Unix socket names back (--allow-abstract).
	Abstract bool
	// Signal lets the sandbox signal processes outside it (--allow-signal).
	Signal bool
}

// Flags of struct capmode_val and ops of struct port_key, as decide.h
// defines them (TestCapModeDecisions compares).
const (
	capmodeNet      = 1 << 0
	capmodeAbstract = 1 << 1
	capmodeSignal   = 1 << 2

	netConnect = 0
	netBind    = 1
)

func (c CapMode) flags() uint32 {
	var f uint32
	if c.Net {
		f |= capmodeNet
	}
	if c.Abstract {
		f |= capmodeAbstract
	}
	if c.Signal {
		f |= capmodeSignal
	}
	return f
}

func (c CapMode) portKeys(sandbox uint32) []capfdPortKey {
	var keys []capfdPortKey
	for _, p := range c.ConnectTCP {
		keys = append(keys, capfdPortKey{Sandbox: sandbox, Port: p, Op: netConnect})
	}
	for _, p := range c.BindTCP {
		keys = append(keys, capfdPortKey{Sandbox: sandbox, Port: p, Op: netBind})
	}
	return keys
}

// SetCapMode puts sandbox in capability mode with c, or replaces its
// earlier CapMode. Call it before marking the sandbox's first process, so
// that the process never runs outside capability mode. A replacement adds
// the new ports before it changes the flags and removes the old ports
// after: a port kept by both is never refused in between.
func (e *Enforcer) SetCapMode(sandbox uint32, c CapMode) error {
	if sandbox == 0 {
		return errors.New("BPF LSM: capability mode: sandbox 0 is reserved")
	}
	e.capmodeMu.Lock()
	defer e.capmodeMu.Unlock()
	keep := c.portKeys(sandbox)
	for _, k := range keep {
		if err := e.ports.Update(k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("BPF LSM: capability mode: sandbox %d port %d: %w", sandbox, k.Port, err)
		}
	}
	if err := e.capmode.Update(sandbox, capfdCapmodeVal{Flags: c.flags()}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("BPF LSM: capability mode of sandbox %d: %w", sandbox, err)
	}
	return e.deletePorts(sandbox, keep)
}

// ClearCapMode takes sandbox out of capability mode: its tasks may signal
// and connect as their credentials and the other layers allow.
func (e *Enforcer) ClearCapMode(sandbox uint32) error {
	e.capmodeMu.Lock()
	defer e.capmodeMu.Unlock()
	if err := e.capmode.Delete(sandbox); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("BPF LSM: clear capability mode of sandbox %d: %w", sandbox, err)
	}
	return e.deletePorts(sandbox, nil)
}

// CapModeOf reports whether sandbox is in capability mode, and with which
// flags (ports are not read back).
func (e *Enforcer) CapModeOf(sandbox uint32) (c CapMode, ok bool, err error) {
	var v capfdCapmodeVal
	err = e.capmode.Lookup(sandbox, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return CapMode{}, false, nil
	}
	if err != nil {
		return CapMode{}, false, fmt.Errorf("BPF LSM: capability mode of sandbox %d: %w", sandbox, err)
	}
	return CapMode{Net: v.Flags&capmodeNet != 0, Abstract: v.Flags&capmodeAbstract != 0, Signal: v.Flags&capmodeSignal != 0}, true, nil
}

// deletePorts removes sandbox's ports other than keep.
func (e *Enforcer) deletePorts(sandbox uint32, keep []capfdPortKey) error {
	var (
		key   capfdPortKey
		val   uint8
		stale []capfdPortKey
	)
	it := e.ports.Iterate()
	for it.Next(&key, &val) {
		if key.Sandbox == sandbox && !slices.Contains(keep, key) {
			stale = append(stale, key)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("BPF LSM: capability mode of sandbox %d: ports: %w", sandbox, err)
	}
	for _, k := range stale {
		if err := e.ports.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("BPF LSM: capability mode of sandbox %d: port %d: %w", sandbox, k.Port, err)
		}
	}
	return nil
}
