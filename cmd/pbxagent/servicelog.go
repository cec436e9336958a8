package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/kardianos/service"
)

// serviceHandler sends slog records to the service manager's log (the
// Windows Event Log), one entry per record with its attributes appended.
type serviceHandler struct {
	l     service.Logger
	level slog.Level
	attrs []slog.Attr
	group string
}

func newServiceHandler(l service.Logger, level slog.Level) *serviceHandler {
	return &serviceHandler{l: l, level: level}
}

func (h *serviceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *serviceHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, " %s=%q", key, a.Value.String())
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool { write(a); return true })
	switch {
	case r.Level >= slog.LevelError:
		return h.l.Error(b.String())
	case r.Level >= slog.LevelWarn:
		return h.l.Warning(b.String())
	default:
		return h.l.Info(b.String())
	}
}

func (h *serviceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *serviceHandler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}
