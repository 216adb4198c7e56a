//go:build linux

package lsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/capfd/capfd/rights"
	"github.com/cilium/ebpf/ringbuf"
)

// Denial is one operation a hook refused.
type Denial struct {
	Hook    string        // LSM hook, e.g. "file_open"
	Pid     int           // thread-group id of the refused process
	Sandbox uint32        // its sandbox
	Dev     uint64        // device of the object checked, as stat(2) reports it
	Ino     uint64        // inode of the object checked (for directory entry changes: the directory)
	Needed  rights.Rights // rights the operation asked for and the object lacked
	Granted rights.Rights // rights the object had in the sandbox

	// Capability mode's hooks refuse no object, and say instead:
	Target int    // task_kill: thread-group id of the process signalled
	Signal int    // task_kill: the signal (0 probes whether Target exists)
	Family int    // socket_connect, socket_bind, socket_sendmsg: the socket's address family
	Port   uint16 // the same: the TCP port, for an INET address (else 0)
}

func (d Denial) String() string {
	switch d.Hook {
	case "task_kill":
		return fmt.Sprintf("%s: pid %d sandbox %d signal %d to pid %d outside the sandbox",
			d.Hook, d.Pid, d.Sandbox, d.Signal, d.Target)
	case "socket_connect", "socket_bind", "socket_sendmsg":
		return fmt.Sprintf("%s: pid %d sandbox %d address family %d port %d not given back",
			d.Hook, d.Pid, d.Sandbox, d.Family, d.Port)
	}
	return fmt.Sprintf("%s: pid %d sandbox %d inode %d:%d needs %s (has %s)",
		d.Hook, d.Pid, d.Sandbox, d.Dev, d.Ino, d.Needed, d.Granted)
}

// denialSize is the size of struct denial, the ring buffer's record.
var denialSize = binary.Size(capfdDenial{})

// decodeDenial parses one ring buffer record.
func decodeDenial(raw []byte) (Denial, error) {
	// The kernel pads records to 8 bytes; struct denial already is.
	if len(raw) != denialSize {
		return Denial{}, fmt.Errorf("denial record of %d bytes, want %d", len(raw), denialSize)
	}
	var rec capfdDenial
	if _, err := binary.Decode(raw, binary.NativeEndian, &rec); err != nil {
		return Denial{}, fmt.Errorf("decode denial record: %w", err)
	}
	return Denial{
		Hook:    hookName(rec.Hook),
		Pid:     int(rec.Pid),
		Sandbox: rec.Sandbox,
		Dev:     statDevFromKernel(rec.Dev),
		Ino:     rec.Ino,
		Needed:  rights.Rights(rec.Needed),
		Granted: rights.Rights(rec.Granted),
		Target:  int(rec.Target),
		Signal:  int(rec.Sig),
		Family:  int(rec.Family),
		Port:    uint16(rec.Port),
	}, nil
}

// Denials returns the stream of refused operations. It is closed by Close.
// If nobody reads it, denials are dropped (and counted), never queued
// without bound.
func (e *Enforcer) Denials() <-chan Denial { return e.denials }

func (e *Enforcer) readDenials() {
	defer close(e.readDone)
	defer close(e.denials)
	var rec ringbuf.Record
	for {
		if err := e.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			continue
		}
		d, err := decodeDenial(rec.RawSample)
		if err != nil {
			// The object is embedded in this binary, so a record of
			// another size means memory corruption, not skew. Drop it.
			continue
		}
		select {
		case e.denials <- d:
		default:
			e.queueFull.Add(1)
		}
	}
}

// Counts returns the number of denials per hook since Load, plus
// CounterRingbufFull and CounterQueueFull. Every hook capfd knows is present,
// with 0 for those skipped on this kernel, so exported metrics keep a fixed
// set of series. A counter that cannot be read (only after Close) is left
// out rather than reported as zero.
func (e *Enforcer) Counts() map[string]uint64 {
	out := make(map[string]uint64, len(hookNames)+2)
	var perCPU []uint64
	for i := range uint32(capfdHookCOUNTER_COUNT) {
		if err := e.counters.Lookup(i, &perCPU); err != nil {
			continue
		}
		var sum uint64
		for _, v := range perCPU {
			sum += v
		}
		if i == uint32(capfdHookCOUNTER_RINGBUF_FULL) {
			out[CounterRingbufFull] = sum
		} else {
			out[hookName(capfdHook(i))] = sum
		}
	}
	out[CounterQueueFull] = e.queueFull.Load()
	return out
}
