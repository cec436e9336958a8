package mailer

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	gomail "github.com/wneessen/go-mail"
	maillog "github.com/wneessen/go-mail/log"

	"github.com/pbxagent/pbxagent/config"
)

// Report is the outcome of Test: one entry per configured server.
type Report struct {
	Servers []ServerReport `json:"servers"`
}

// OK reports whether every server took the test mail.
func (r *Report) OK() bool {
	for _, s := range r.Servers {
		if s.Error != "" {
			return false
		}
	}
	return len(r.Servers) > 0
}

// ServerReport is what happened talking to one mail server.
type ServerReport struct {
	// Role is "main" or "fallback".
	Role string `json:"role"`
	// Address is host:port.
	Address string `json:"address"`
	// Mode is the configured TLS mode: starttls, tls or none.
	Mode string `json:"mode"`
	// Connected is true once the server greeted.
	Connected bool `json:"connected"`
	// TLS is the negotiated version ("TLS 1.3"), empty without TLS.
	TLS string `json:"tls,omitempty"`
	// AuthenticatedAs is the user name the server accepted, empty when
	// no authentication took place.
	AuthenticatedAs string `json:"authenticated_as,omitempty"`
	// Accepted and Rejected are the recipients the server took or refused.
	Accepted []string `json:"accepted,omitempty"`
	Rejected []string `json:"rejected,omitempty"`
	// Reply is the server's answer to the message ("2.0.0 Ok: queued as ...").
	Reply string `json:"reply,omitempty"`
	// Error is why the test failed; empty on success.
	Error string `json:"error,omitempty"`
	// Transcript is the SMTP dialogue, without authentication exchanges
	// and message content ("C: " client, "S: " server).
	Transcript []string `json:"transcript,omitempty"`
}

// Test sends a test mail right now through every configured server (main,
// then fallback), bypassing the queue, and reports each dialogue. The error
// is non-nil when any server failed; the report is always returned.
func (m *Mailer) Test(ctx context.Context) (*Report, error) {
	r := &Report{}
	var errs []error
	for _, s := range m.servers {
		sr, err := m.testServer(ctx, s)
		r.Servers = append(r.Servers, sr)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return r, errors.Join(errs...)
}

func (m *Mailer) testServer(ctx context.Context, s server) (ServerReport, error) {
	sr := ServerReport{Role: s.role, Address: s.addr(), Mode: s.tlsMode}
	tr := &transcript{}
	fail := func(err error) (ServerReport, error) {
		err = m.scrub(fmt.Errorf("test mail via %s server %s: %w", s.role, s.addr(), err))
		sr.Error = err.Error()
		m.fillFromTranscript(&sr, tr, s)
		return sr, err
	}
	c, err := m.client(s, gomail.WithDebugLog(), gomail.WithLogger(tr))
	if err != nil {
		return fail(err)
	}
	now := m.nowFunc()
	q := &outgoing{
		date: now,
		id:   fmt.Sprintf("pbxagent.test.%d.%s@%s", now.UnixNano(), randomID(8), m.hostname),
		msg: Message{
			Subject: fmt.Sprintf("[pbxagent] %s: test message via the %s mail server", m.hostname, s.role),
			Text: fmt.Sprintf("This is a test message from pbxagent on %s, sent through the %s mail server %s (%s).\n"+
				"If you can read it, alert mails from this host reach you.\n", m.hostname, s.role, s.addr(), s.tlsMode),
			HTML: fmt.Sprintf("<p>This is a test message from pbxagent on <b>%s</b>, sent through the %s mail server <code>%s</code> (%s).</p>"+
				"<p>If you can read it, alert mails from this host reach you.</p>",
				htmlEscape(m.hostname), s.role, htmlEscape(s.addr()), s.tlsMode),
		},
	}
	msg, err := m.build(q)
	if err != nil {
		return fail(err)
	}
	actx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	sc, err := c.DialToSMTPClientWithContext(actx)
	if err != nil {
		return fail(err)
	}
	if st, err := sc.GetTLSConnectionState(); err == nil && st != nil && st.HandshakeComplete {
		sr.TLS = tls.VersionName(st.Version)
	}
	if err := c.SendWithSMTPClient(sc, msg); err != nil {
		_ = c.CloseWithSMTPClient(sc)
		return fail(err)
	}
	if err := c.CloseWithSMTPClient(sc); err != nil {
		m.log.Debug("closing the test SMTP connection", "error", m.scrub(err))
	}
	m.fillFromTranscript(&sr, tr, s)
	sr.Reply = m.scrubString(msg.ServerResponse())
	return sr, nil
}

// fillFromTranscript derives the report's fields from the dialogue.
func (m *Mailer) fillFromTranscript(sr *ServerReport, tr *transcript, s server) {
	lines := tr.clean(m.scrubString, s)
	sr.Transcript = lines
	var rcpt string
	for _, l := range lines {
		client := strings.HasPrefix(l, "C: ")
		text := l[3:]
		if !client {
			// go-mail does not log the greeting; any reply means the
			// server answered.
			sr.Connected = true
		}
		switch {
		case !client && strings.HasPrefix(text, "235") && s.user != "":
			sr.AuthenticatedAs = s.user
		case client && strings.HasPrefix(strings.ToUpper(text), "RCPT TO:"):
			rcpt = strings.TrimPrefix(strings.SplitN(text[len("RCPT TO:"):], " ", 2)[0], "<")
			rcpt = strings.TrimSuffix(rcpt, ">")
		case !client && rcpt != "":
			if strings.HasPrefix(text, "25") {
				sr.Accepted = append(sr.Accepted, rcpt)
			} else {
				sr.Rejected = append(sr.Rejected, rcpt)
			}
			rcpt = ""
		}
	}
}

// transcript collects go-mail's debug log of one SMTP dialogue.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (t *transcript) add(l maillog.Log) {
	p := "S: "
	if l.Direction == maillog.DirClientToServer {
		p = "C: "
	}
	text := strings.TrimRight(fmt.Sprintf(l.Format, l.Messages...), "\r\n")
	t.mu.Lock()
	for _, line := range strings.Split(text, "\n") {
		t.lines = append(t.lines, p+strings.TrimRight(line, "\r"))
	}
	t.mu.Unlock()
}

// Debugf records a dialogue line.
func (t *transcript) Debugf(l maillog.Log) { t.add(l) }

// Infof records a dialogue line.
func (t *transcript) Infof(l maillog.Log) { t.add(l) }

// Warnf records a dialogue line.
func (t *transcript) Warnf(l maillog.Log) { t.add(l) }

// Errorf records a dialogue line.
func (t *transcript) Errorf(l maillog.Log) { t.add(l) }

// clean returns the dialogue without authentication exchanges (AUTH
// commands, their challenges and responses) and with any password masked.
func (t *transcript) clean(scrub func(string) string, s server) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var encoded []string
	if s.pass != "" {
		encoded = append(encoded,
			base64.StdEncoding.EncodeToString([]byte(s.pass)),
			base64.StdEncoding.EncodeToString([]byte("\x00"+s.user+"\x00"+s.pass)))
	}
	var out []string
	inAuth := false
	for _, l := range t.lines {
		text := l[3:]
		client := strings.HasPrefix(l, "C: ")
		upper := strings.ToUpper(text)
		switch {
		case client && (strings.HasPrefix(upper, "AUTH") || strings.Contains(text, "auth data redacted")):
			if !inAuth {
				out = append(out, "C: AUTH "+config.Mask)
			}
			inAuth = true
			continue
		case inAuth && !client && (strings.HasPrefix(text, "235") || strings.HasPrefix(text, "4") || strings.HasPrefix(text, "5")):
			inAuth = false
		case inAuth:
			continue
		}
		l = scrub(l)
		for _, e := range encoded {
			l = strings.ReplaceAll(l, e, config.Mask)
		}
		out = append(out, l)
	}
	return out
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}
