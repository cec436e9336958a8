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
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", h.qualify(a.Key), a.Value.String())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		return h.l.Error(b.String())
	case r.Level >= slog.LevelWarn:
		return h.l.Warning(b.String())
	default:
		return h.l.Info(b.String())
	}
}

// qualify prefixes a key with the open groups.
func (h *serviceHandler) qualify(key string) string {
	if h.group == "" {
		return key
	}
	return h.group + "." + key
}

// WithAttrs keeps attributes with their keys qualified by the groups open
// at the time, as slog requires.
func (h *serviceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		n.attrs = append(n.attrs, slog.Attr{Key: h.qualify(a.Key), Value: a.Value})
	}
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
