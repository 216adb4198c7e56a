package enforce

import "github.com/capfd/capfd/broker/lsm"

// logDenials writes every denial the hooks report to the audit log, until
// the enforcer closes the stream. A denial names its sandbox and the
// client that sandbox was made for; one read after the sandbox was revoked
// (made after the last disconnect, or before it but read after) also says
// so. Sandbox ids are not reused before the counter wraps, so the client
// named is the right one.
func (k *Kernel) logDenials(denials <-chan lsm.Denial) {
	defer close(k.denialsDone)
	for d := range denials {
		attrs := []any{
			"hook", d.Hook,
			"pid", d.Pid,
			"sandbox", d.Sandbox,
			"dev", d.Dev,
			"ino", d.Ino,
			"needed", d.Needed.String(),
			"granted", d.Granted.String(),
		}
		k.mu.Lock()
		sb := k.sandboxes[d.Sandbox]
		gone, wasRevoked := k.revoked[d.Sandbox]
		k.mu.Unlock()
		switch {
		case sb != nil:
			attrs = append(attrs, "client", sb.client)
		case wasRevoked:
			// A process whose connections all ended: still marked,
			// with its grants revoked.
			attrs = append(attrs, "client", gone, "sandbox_state", "revoked")
		default:
			attrs = append(attrs, "sandbox_state", "revoked")
		}
		k.audit.Warn("kernel denied", attrs...)
	}
}
