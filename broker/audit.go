package broker

import (
	"context"
	"log/slog"
	"time"

	"github.com/capfd/capfd/broker/wire"
)

// auditRecord is one served request, for the audit log.
type auditRecord struct {
	op       wire.Op
	handle   uint32
	name     string // the handle's name, for humans
	path     string
	path2    string // a rename's or link's second path
	result   string
	er       *wire.ErrorReply
	duration time.Duration
}

// audit writes rec: always for a refusal (a denial for want of rights,
// an escape from the handle's directory), for everything else only with
// AuditAll. The record holds what an investigator needs: which connection
// ("conn", as in its connect and disconnect records), who (the client's
// identity), what (op, handle, path), and for a denial which rights were
// needed, held and missing.
func (c *clientConn) audit(rec auditRecord) {
	if rec.result != resultDenied && rec.result != resultEscape && !c.srv.cfg.AuditAll {
		return
	}
	level := slog.LevelInfo
	msg := "operation"
	attrs := []slog.Attr{
		slog.Any("client", c.id),
		slog.String("op", rec.op.String()),
		slog.Uint64("handle", uint64(rec.handle)),
		slog.String("result", rec.result),
		slog.Duration("duration", rec.duration),
	}
	if rec.name != "" {
		attrs = append(attrs, slog.String("handle_name", rec.name))
	}
	if rec.path != "" {
		attrs = append(attrs, slog.String("path", rec.path))
	}
	if rec.path2 != "" {
		attrs = append(attrs, slog.String("path2", rec.path2))
	}
	if rec.er != nil {
		attrs = append(attrs, slog.String("error", rec.er.Message), slog.Int("errno", int(rec.er.Errno)))
	}
	switch rec.result {
	case resultEscape:
		// Named "escape", as the error the client gets: the path (a
		// "..", a symlink, an absolute name) led out of the handle's
		// directory. Nothing was opened.
		level, msg = slog.LevelWarn, "escape"
	case resultDenied:
		level, msg = slog.LevelWarn, "denied"
		attrs = append(attrs,
			slog.String("needed", rec.er.Needed.String()),
			slog.String("held", rec.er.Held.String()),
			slog.String("missing", rec.er.Held.Missing(rec.er.Needed).String()))
	}
	c.alog.LogAttrs(context.Background(), level, msg, attrs...)
}
