// Package journald is a log/slog handler that writes to the systemd journal
// over its native protocol, so every record keeps its priority (journalctl
// -p warning) and its attributes become fields of their own (journalctl
// CHECK=disk).
//
// The native protocol is used rather than "<N>" prefixes on stderr: the
// prefixes carry the priority only, while the native protocol also carries
// structured fields, and it does not depend on the unit's
// SyslogLevelPrefix= setting.
//
// The handler is a plain slog.Handler: wrappers (such as one that scrubs
// secrets) compose with it by wrapping it.
package journald

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// Available reports whether stderr is connected to the journal (systemd
// sets JOURNAL_STREAM for a service) and the journal's socket is there.
func Available() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok && journal.Enabled()
}

// SendFunc writes one entry; journal.Send in production.
type SendFunc func(message string, p journal.Priority, fields map[string]string) error

// Handler writes records to the journal. Create it with New.
type Handler struct {
	level  slog.Leveler
	ident  string
	send   SendFunc
	attrs  []slog.Attr
	prefix string
}

// New returns a handler for records at level or above, tagged with the
// syslog identifier ident. A nil send uses the journal's socket.
func New(ident string, level slog.Leveler, send SendFunc) *Handler {
	if send == nil {
		send = journal.Send
	}
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{level: level, ident: ident, send: send}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Priority maps a slog level to a syslog priority.
func Priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}

// Handle implements slog.Handler: the message carries the attributes as
// key=value (as the text handler writes them), and each attribute is also a
// journal field named by its upper-cased key.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	fields := map[string]string{}
	if h.ident != "" {
		fields["SYSLOG_IDENTIFIER"] = h.ident
	}
	add := func(key string, v slog.Value) {
		val := v.Resolve().String()
		fmt.Fprintf(&b, " %s=%s", key, quote(val))
		if name := FieldName(key); name != "" {
			fields[name] = val
		}
	}
	for _, a := range h.attrs {
		flatten("", a, add)
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(h.prefix, a, add)
		return true
	})
	if err := h.send(b.String(), Priority(r.Level), fields); err != nil {
		return fmt.Errorf("write to the journal: %w", err)
	}
	return nil
}

// flatten calls add for a and, for a group, for each member with the
// group's name as prefix.
func flatten(prefix string, a slog.Attr, add func(string, slog.Value)) {
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if prefix != "" {
		key = prefix + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key == "" {
			key = prefix
		}
		for _, m := range a.Value.Group() {
			flatten(key, m, add)
		}
		return
	}
	add(key, a.Value)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if h.prefix != "" {
			a = slog.Group(h.prefix, a)
		}
		n.attrs = append(n.attrs, a)
	}
	return &n
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	if n.prefix != "" {
		name = n.prefix + "." + name
	}
	n.prefix = name
	return &n
}

// reserved are fields the journal or this handler sets; an attribute of
// that name stays in the message only.
var reserved = map[string]bool{
	"MESSAGE": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true, "MESSAGE_ID": true,
	"CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true, "SYSLOG_FACILITY": true,
}

// FieldName turns an attribute key into a journal field name: upper case,
// other characters than letters and digits become '_', never a leading '_'
// (trusted fields) or digit; "" when nothing is left or the name is one the
// journal reserves.
func FieldName(key string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(key) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if len(s) > 64 {
		s = s[:64]
	}
	if s == "" || reserved[s] {
		return ""
	}
	return s
}

// quote quotes a value when it holds spaces, quotes or '=' (as the text
// handler does).
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
