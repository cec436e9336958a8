package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler wraps an slog.Handler so that no secret reaches the log: the
// message and every attribute are redacted by r before next sees them. An
// attribute whose key is secret (IsSecretKey) logs Marker; a string,
// error or fmt.Stringer value is redacted as text; any other value whose
// printed form holds a secret is replaced by its redacted text. Handler
// is a plain wrapper, so it composes with any other handler (text, JSON,
// journald, the Windows event log).
type Handler struct {
	next slog.Handler
	r    *Redactor
}

// NewHandler returns next wrapped so that r redacts every record.
func NewHandler(next slog.Handler, r *Redactor) *Handler {
	if h, ok := next.(*Handler); ok {
		next = h.next // one pass is enough; the newer redactor wins
	}
	return &Handler{next: next, r: r}
}

// Enabled reports whether next handles records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle redacts the record and passes it on.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	msg, _ := h.r.String(rec.Message)
	out := slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts the attributes once, when they are added.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &Handler{next: h.next.WithAttrs(clean), r: h.r}
}

// WithGroup starts a group in next.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), r: h.r}
}

func (h *Handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := v.Group()
		clean := make([]slog.Attr, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	}
	if h.r.isSecret(a.Key) && needsRedaction(v.String()) {
		return slog.String(a.Key, Marker)
	}
	switch v.Kind() {
	case slog.KindString:
		if s, n := h.r.String(v.String()); n > 0 {
			return slog.String(a.Key, s)
		}
	case slog.KindAny:
		var text string
		switch x := v.Any().(type) {
		case error:
			text = x.Error()
		case fmt.Stringer:
			text = x.String()
		default:
			text = fmt.Sprintf("%+v", x)
		}
		if s, n := h.r.String(text); n > 0 {
			return slog.String(a.Key, s)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
