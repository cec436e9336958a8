// Package mailer is the email receiver of the agent's alert events (a
// notify.Receiver): it renders each queued batch as a digest mail (text
// and HTML) and sends it through the main mail server or, when that fails,
// the fallback one. The queue, its bound and its backoff are the ones
// every receiver shares (notify.Queue); `pbxagent alert test` (Test)
// bypasses them.
//
// TLS is verified by default: "starttls" requires the server to offer
// STARTTLS, "tls" is implicit TLS (SMTPS) and "none" is accepted only with
// allow_plain. The SMTP password never appears in logs, errors or reports.
package mailer

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/redact"
)

// Option adjusts a Mailer.
type Option func(*Mailer)

// WithRootCAs makes the mailer trust the certificates signed by pool instead
// of the system's roots, for mail servers with a private CA. Certificates
// are always verified.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(m *Mailer) { m.rootCAs = pool }
}

// WithRedactor makes the mailer pass mail text, SMTP errors, replies and
// the dialogue of `alert test` through r (with the SMTP passwords added),
// so every secret the agent knows is kept out of them, not only the mail
// server's password.
func WithRedactor(r *redact.Redactor) Option {
	return func(m *Mailer) { m.red = r }
}

// WithUserAgent names the agent in the User-Agent and X-Mailer headers,
// e.g. "pbxagent/1.4.0" (default "pbxagent").
func WithUserAgent(ua string) Option {
	return func(m *Mailer) {
		if ua != "" {
			m.userAgent = ua
		}
	}
}

// defaultTimeout bounds one attempt when the configuration sets none.
const defaultTimeout = 30 * time.Second

// Mailer sends alert mails. Its methods are safe for concurrent use.
type Mailer struct {
	from      string
	to        []string
	servers   []server
	secrets   []string
	red       *redact.Redactor // set by WithRedactor; the SMTP passwords are always added
	timeout   time.Duration
	hostname  string
	userAgent string
	rootCAs   *x509.CertPool

	log     *slog.Logger
	nowFunc func() time.Time
}

// server is one mail server's settings.
type server struct {
	role       string // "main" or "fallback"
	host       string
	port       int
	user       string
	pass       string
	tlsMode    string
	allowPlain bool
	auth       string
}

func (s server) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// New returns a mailer for cfg. The fallback server has its own host, port,
// credentials, TLS mode and authentication; its empty TLS mode means
// "starttls", its empty authentication "auto", its port 0 the usual port of
// its TLS mode; sender and recipients are shared.
func New(cfg config.SMTP, log *slog.Logger, opts ...Option) (*Mailer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{
		timeout:   cfg.Timeout.D(),
		userAgent: "pbxagent",
		log:       log,
		nowFunc:   time.Now,
	}
	if m.timeout <= 0 {
		m.timeout = defaultTimeout
	}
	for _, o := range opts {
		o(m)
	}
	if cfg.Host == "" {
		return nil, errors.New("smtp.host is not set")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp.from %q: %w", cfg.From, err)
	}
	m.from = from.String()
	if len(cfg.To) == 0 {
		return nil, errors.New("smtp.to lists no recipient")
	}
	for _, to := range cfg.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return nil, fmt.Errorf("smtp.to %q: %w", to, err)
		}
		m.to = append(m.to, a.String())
	}
	main := server{role: "main", host: cfg.Host, port: cfg.Port, user: cfg.Username, pass: cfg.Password.Reveal(),
		tlsMode: cfg.TLS, allowPlain: cfg.AllowPlain, auth: cfg.Auth}
	servers := []server{main}
	if fb := cfg.Fallback; fb.Host != "" {
		servers = append(servers, server{role: "fallback", host: fb.Host, port: fb.Port, user: fb.Username,
			pass: fb.Password.Reveal(), tlsMode: fb.TLS, allowPlain: fb.AllowPlain, auth: fb.Auth})
	}
	for i := range servers {
		s := &servers[i]
		if s.tlsMode == "" {
			s.tlsMode = "starttls"
		}
		if s.auth == "" {
			s.auth = "auto"
		}
		if s.port == 0 {
			s.port = map[string]int{"tls": 465, "starttls": 587, "none": 25}[s.tlsMode]
		}
		prefix := "smtp"
		if s.role == "fallback" {
			prefix = "smtp.fallback"
		}
		switch s.tlsMode {
		case "starttls", "tls":
		case "none":
			if !s.allowPlain {
				return nil, fmt.Errorf(`%s.tls "none" needs %s.allow_plain: true`, prefix, prefix)
			}
		default:
			return nil, fmt.Errorf("%s.tls %q: use starttls, tls or none", prefix, s.tlsMode)
		}
		switch s.auth {
		case "auto", "plain", "login":
		default:
			return nil, fmt.Errorf("%s.auth %q: use auto, plain or login", prefix, s.auth)
		}
		if s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("%s.port %d is out of range", prefix, s.port)
		}
		if s.pass != "" {
			m.secrets = append(m.secrets, s.pass)
		}
	}
	m.servers = servers
	m.red = m.red.WithValues(m.secrets...)
	m.hostname, _ = os.Hostname()
	if m.hostname == "" {
		m.hostname = "localhost"
	}
	return m, nil
}

// client returns a go-mail client for one server, with extra options.
func (m *Mailer) client(s server, extra ...gomail.Option) (*gomail.Client, error) {
	tc := &tls.Config{ServerName: s.host, RootCAs: m.rootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(m.timeout),
		gomail.WithTLSConfig(tc),
	}
	switch s.tlsMode {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
		plain := s.tlsMode == "none"
		switch {
		case s.auth == "plain" && plain:
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlainNoEnc))
		case s.auth == "plain":
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain))
		case s.auth == "login" && plain:
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLoginNoEnc))
		case s.auth == "login":
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLogin))
		case plain:
			// allow_plain accepted sending the password unencrypted.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256,
				gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		default:
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	} else {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	}
	opts = append(opts, extra...)
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, m.scrub(fmt.Errorf("set up SMTP client for %s server %s: %w", s.role, s.addr(), err))
	}
	return c, nil
}

// outgoing is one mail about to be sent.
type outgoing struct {
	msg  Message
	date time.Time
	id   string // Message-ID
}

// build turns a mail into a go-mail message.
func (m *Mailer) build(q *outgoing) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return nil, fmt.Errorf("set sender: %w", err)
	}
	if err := msg.To(m.to...); err != nil {
		return nil, fmt.Errorf("set recipients: %w", err)
	}
	msg.Subject(q.msg.Subject)
	msg.SetDateWithValue(q.date)
	msg.SetMessageIDWithValue(q.id)
	msg.SetUserAgent(m.userAgent)
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-Auto-Response-Suppress", "All")
	msg.SetGenHeader("X-Pbxagent-Host", m.hostname)
	msg.SetBodyString(gomail.TypeTextPlain, q.msg.Text)
	if q.msg.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, q.msg.HTML)
	}
	return msg, nil
}

// send delivers one mail through the first server that takes it; the
// returned error joins every server's failure. permanent reports that every
// server refused the mail itself (5xx), so retrying it alone cannot help.
func (m *Mailer) send(ctx context.Context, q *outgoing) (srv, reply string, permanent bool, err error) {
	var errs []error
	permanent = true
	for _, s := range m.servers {
		msg, err := m.build(q)
		if err != nil {
			return "", "", true, err
		}
		c, err := m.client(s)
		if err != nil {
			return "", "", false, err
		}
		actx, cancel := context.WithTimeout(ctx, m.timeout)
		err = c.DialAndSendWithContext(actx, msg)
		cancel()
		if err == nil {
			return s.role + " server " + s.addr(), m.scrubString(msg.ServerResponse()), false, nil
		}
		var se *gomail.SendError
		if !errors.As(err, &se) || se.IsTemp() || se.ErrorCode() < 500 {
			permanent = false
		}
		errs = append(errs, m.scrub(fmt.Errorf("%s server %s: %w", s.role, s.addr(), err)))
		if ctx.Err() != nil {
			break
		}
	}
	return "", "", permanent, errors.Join(errs...)
}

// scrub replaces any SMTP password in err's text with a mask. The result
// keeps err's chain when there is nothing to hide.
func (m *Mailer) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := m.scrubString(msg)
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

func (m *Mailer) scrubString(s string) string {
	s, _ = m.red.String(s)
	return s
}

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
