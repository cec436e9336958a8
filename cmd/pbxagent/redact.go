package main

import (
	"io"
	"log/slog"

	"github.com/pbxagent/pbxagent/internal/termsafe"
	"github.com/pbxagent/pbxagent/redact"
)

// redacted wraps h so that the agent's own log lines carry no secret: the
// configuration's secret values and every pattern of package redact.
// Other handlers (journald, the event log) compose with it the same way.
func (a *app) redacted(h slog.Handler) slog.Handler {
	return redact.NewHandler(h, redact.New().WithValues(a.cfg.Secrets()...))
}

// text returns the writer for human-readable output: text from captures,
// logs and servers is printed with escape sequences and control
// characters removed, so it cannot drive the terminal. JSON output is
// written to a.stdout directly and stays exact.
func (a *app) text() io.Writer { return termsafe.NewWriter(a.stdout) }
