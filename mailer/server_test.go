package mailer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pbxagent/pbxagent/config"
)

// testPassword is searched for in every captured log, error and report.
const testPassword = "Pa55-w0rd-MUST-NOT-LEAK"

// testCert is a self-signed certificate for 127.0.0.1 and localhost.
type testCert struct {
	cert tls.Certificate
	pool *x509.CertPool
}

func newTestCert(t testing.TB) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mail.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return testCert{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool: pool}
}

// serverOpts configures a test SMTP server.
type serverOpts struct {
	mode string // "starttls" (offers STARTTLS), "tls" (implicit) or "plain" (no TLS)
	user string // empty: no authentication required
	pass string
	cert testCert
	port int // 0: any free port
}

// received is one message a test server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	Mech string
}

// testServer is an in-process SMTP server on 127.0.0.1.
type testServer struct {
	host string
	port int
	srv  *smtp.Server

	mu   sync.Mutex
	msgs []received
}

func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{host: "127.0.0.1"}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{ts: ts, opts: o}, nil
	})
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ErrorLog = log.New(io.Discard, "", 0)
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	tc := &tls.Config{Certificates: []tls.Certificate{o.cert.cert}}
	var l net.Listener
	var err error
	l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		t.Fatal(err)
	}
	switch o.mode {
	case "starttls":
		s.TLSConfig = tc
	case "tls":
		l = tls.NewListener(l, tc)
	case "plain":
		s.AllowInsecureAuth = true
	default:
		t.Fatalf("unknown mode %q", o.mode)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	ts.srv = s
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ts
}

func (ts *testServer) messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

// session is one SMTP connection to a test server.
type session struct {
	ts     *testServer
	opts   serverOpts
	authed bool
	mech   string
	cur    received
}

func (s *session) AuthMechanisms() []string {
	if s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) check(user, pass string) error {
	if user != s.opts.user || pass != s.opts.pass {
		return smtp.ErrAuthFailed
	}
	s.authed = true
	return nil
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.mech = mech
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return s.check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: s.check}, nil
	}
	return nil, smtp.ErrAuthUnsupported
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.opts.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{From: from, Mech: s.mech}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.ts.mu.Lock()
	s.ts.msgs = append(s.ts.msgs, s.cur)
	s.ts.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// freePort returns a port on 127.0.0.1 where nothing listens.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// smtpConfig returns a configuration for a test server.
func smtpConfig(ts *testServer, port int, tlsMode, user string) config.SMTP {
	c := config.SMTP{
		Host:     "127.0.0.1",
		Port:     port,
		Username: user,
		From:     "pbxagent@pbx1.example.com",
		To:       []string{"ops@example.com", "oncall@example.com"},
		TLS:      tlsMode,
		Auth:     "auto",
		Timeout:  config.Duration(5 * time.Second),
	}
	if ts != nil {
		c.Port = ts.port
	}
	if user != "" {
		c.Password = testPassword
	}
	return c
}

// logBuffer captures a mailer's log for leak checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
