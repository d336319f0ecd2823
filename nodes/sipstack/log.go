package sipstack

import (
	"context"
	"log/slog"
)

// maxLogValue is how much of a string attribute sipgo's log lines keep.
// sipgo logs a datagram it cannot parse whole ("data"), once per
// retransmission: enough to recognise it, not 64 kB of it each time.
const maxLogValue = 512

// cappedHandler cuts long string attributes of the records it passes on.
type cappedHandler struct{ slog.Handler }

func (h cappedHandler) Handle(ctx context.Context, r slog.Record) error {
	long := false
	r.Attrs(func(a slog.Attr) bool {
		long = long || a.Value.Kind() == slog.KindString && len(a.Value.String()) > maxLogValue
		return !long
	})
	if !long {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindString && len(a.Value.String()) > maxLogValue {
			s := a.Value.String()
			a = slog.Group(a.Key, slog.String("head", s[:maxLogValue]), slog.Int("bytes", len(s)))
		}
		out.AddAttrs(a)
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h cappedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return cappedHandler{h.Handler.WithAttrs(as)}
}

func (h cappedHandler) WithGroup(name string) slog.Handler {
	return cappedHandler{h.Handler.WithGroup(name)}
}
