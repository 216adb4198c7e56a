package enforce

import "github.com/capfd/capfd/broker/lsm"

// logDenials writes every denial the hooks report to the audit log, until
// the enforcer closes the stream. A denial names its sandbox; while the
// sandbox is live the record also names the client it was made for.
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
		k.mu.Unlock()
		if sb != nil {
			attrs = append(attrs, "client", sb.client)
		} else {
			// A process whose connections all ended: still marked,
			// with its grants revoked.
			attrs = append(attrs, "sandbox_state", "revoked")
		}
		k.audit.Warn("kernel denied", attrs...)
	}
}
