package mailer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/notify"
)

// testMailer is a mailer with its queue in dir, run the way the agent
// runs it (notify.Queue); q is nil without a folder.
type testMailer struct {
	*Mailer
	q *notify.Queue
}

func (tm *testMailer) Enqueue(b notify.Batch) error    { return tm.q.Enqueue(b) }
func (tm *testMailer) Flush(ctx context.Context) error { return tm.q.Flush(ctx) }
func (tm *testMailer) Queued() (int, error)            { return tm.q.Len(), nil }

// newMailer builds a mailer whose log is checked for the password when the
// test ends.
func newMailer(t *testing.T, cfg config.SMTP, dir string, queueMax int, opts ...Option) (*testMailer, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	m, err := New(cfg, newLogger(lb), opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.hostname = "pbx1"
	t.Cleanup(func() { assertNoPassword(t, "log", lb.String()) })
	tm := &testMailer{Mailer: m}
	if dir != "" {
		if tm.q, err = notify.NewQueue(m, dir, queueMax, newLogger(lb)); err != nil {
			t.Fatal(err)
		}
	}
	return tm, lb
}

func assertNoPassword(t *testing.T, what, s string) {
	t.Helper()
	for _, leak := range []string{testPassword, base64.StdEncoding.EncodeToString([]byte(testPassword))} {
		if strings.Contains(s, leak) {
			t.Errorf("%s contains the SMTP password:\n%s", what, s)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var testMsg = testBatch("disk", "/var/lib/portsip 96% used")

// testBatch is one CRITICAL event of check, its summary the text.
func testBatch(check, summary string) notify.Batch {
	t0 := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	return notify.Batch{Host: "pbx1", Time: t0, Events: []notify.Event{{Check: check, Kind: "problem",
		State: "CRITICAL", Previous: "OK", Since: t0, Summary: summary, Advice: "Free some space."}}}
}

// subjects returns the decoded subjects of the mails ts received, in order.
func subjects(t *testing.T, ts *testServer) []string {
	t.Helper()
	var out []string
	for _, r := range ts.messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, subj)
	}
	return out
}

// subjectOf is the subject of testBatch(check, "body").
func subjectOf(check string) string { return "[pbxagent] pbx1: CRITICAL " + check + " — body" }

// parts returns the media types and bodies of a multipart/alternative mail.
func parts(t *testing.T, raw []byte) (*mail.Message, map[string]string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p) // quoted-printable is decoded by NextPart
		out[pt] = string(b)
	}
	return msg, out
}

func TestStartTLSAuthMultipleRecipients(t *testing.T) {
	cert := newTestCert(t)
	ts := startServer(t, serverOpts{mode: "starttls", user: "alerts", pass: testPassword, cert: cert})
	m, _ := newMailer(t, smtpConfig(ts, 0, "starttls", "alerts"), t.TempDir(), 10, WithRootCAs(cert.pool), WithUserAgent("pbxagent/1.2.3"))
	if err := m.Enqueue(testMsg); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := ts.messages()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want 1", len(got))
	}
	if !slices.Equal(got[0].To, []string{"ops@example.com", "oncall@example.com"}) {
		t.Errorf("recipients %v", got[0].To)
	}
	msg, p := parts(t, got[0].Data)
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subj != "[pbxagent] pbx1: CRITICAL disk — /var/lib/portsip 96% used" {
		t.Errorf("subject %q", subj)
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	if id := msg.Header.Get("Message-Id"); !strings.HasPrefix(id, "<pbxagent.") || !strings.HasSuffix(id, ">") {
		t.Errorf("Message-ID %q", id)
	}
	if msg.Header.Get("X-Mailer") != "pbxagent/1.2.3" || msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("agent headers missing: %v", msg.Header)
	}
	if !strings.Contains(p["text/plain"], "/var/lib/portsip 96% used") || !strings.Contains(p["text/html"], "CRITICAL disk</h3>") {
		t.Errorf("parts %v", p)
	}
	if n, _ := m.Queued(); n != 0 {
		t.Errorf("%d mails left in the queue", n)
	}
}

func TestAuthMechanisms(t *testing.T) {
	cert := newTestCert(t)
	for _, tc := range []struct{ auth, want string }{{"plain", "PLAIN"}, {"login", "LOGIN"}, {"auto", "PLAIN"}} {
		t.Run(tc.auth, func(t *testing.T) {
			ts := startServer(t, serverOpts{mode: "starttls", user: "alerts", pass: testPassword, cert: cert})
			cfg := smtpConfig(ts, 0, "starttls", "alerts")
			cfg.Auth = tc.auth
			m, _ := newMailer(t, cfg, t.TempDir(), 10, WithRootCAs(cert.pool))
			must(t, m.Enqueue(testMsg))
			must(t, m.Flush(context.Background()))
			got := ts.messages()
			if len(got) != 1 || got[0].Mech != tc.want {
				t.Fatalf("got %+v, want one message authenticated with %s", got, tc.want)
			}
		})
	}
}

func TestStartTLSIsMandatory(t *testing.T) {
	ts := startServer(t, serverOpts{mode: "plain"})
	m, _ := newMailer(t, smtpConfig(ts, 0, "starttls", ""), t.TempDir(), 10)
	must(t, m.Enqueue(testMsg))
	err := m.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("want a STARTTLS error, got %v", err)
	}
	if len(ts.messages()) != 0 {
		t.Fatal("mail sent without TLS")
	}
	if n, _ := m.Queued(); n != 1 {
		t.Errorf("queue holds %d, want the mail kept", n)
	}
}

func TestCertificateIsVerified(t *testing.T) {
	cert := newTestCert(t)
	ts := startServer(t, serverOpts{mode: "tls", cert: cert})
	m, _ := newMailer(t, smtpConfig(ts, 0, "tls", ""), "", 10) // no WithRootCAs
	r, err := m.Test(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
	if r.OK() || len(ts.messages()) != 0 {
		t.Fatal("mail sent to a server with an untrusted certificate")
	}
}

func TestImplicitTLSReport(t *testing.T) {
	cert := newTestCert(t)
	ts := startServer(t, serverOpts{mode: "tls", user: "alerts", pass: testPassword, cert: cert})
	m, lb := newMailer(t, smtpConfig(ts, 0, "tls", "alerts"), "", 10, WithRootCAs(cert.pool))
	r, err := m.Test(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Servers) != 1 {
		t.Fatalf("%d server reports", len(r.Servers))
	}
	s := r.Servers[0]
	if !r.OK() || !s.Connected || s.TLS != "TLS 1.3" || s.AuthenticatedAs != "alerts" {
		t.Errorf("report %+v", s)
	}
	if !slices.Equal(s.Accepted, []string{"ops@example.com", "oncall@example.com"}) || !strings.HasPrefix(s.Reply, "2.0.0") {
		t.Errorf("accepted %v, reply %q", s.Accepted, s.Reply)
	}
	if len(ts.messages()) != 1 {
		t.Errorf("server got %d test mails", len(ts.messages()))
	}
	b, _ := json.Marshal(r)
	assertNoPassword(t, "report", string(b))
	assertNoPassword(t, "log", lb.String())
	if !strings.Contains(string(b), "AUTH "+config.Mask) {
		t.Errorf("transcript lacks the masked AUTH line: %s", b)
	}
}

func TestPlainNeedsAllowPlain(t *testing.T) {
	ts := startServer(t, serverOpts{mode: "plain", user: "alerts", pass: testPassword})
	cfg := smtpConfig(ts, 0, "none", "alerts")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "allow_plain") {
		t.Fatalf("tls none without allow_plain: %v", err)
	}
	cfg.AllowPlain = true
	for _, auth := range []string{"auto", "plain", "login"} {
		cfg.Auth = auth
		m, _ := newMailer(t, cfg, t.TempDir(), 10)
		must(t, m.Enqueue(testMsg))
		must(t, m.Flush(context.Background()))
	}
	if n := len(ts.messages()); n != 3 {
		t.Fatalf("server got %d mails, want 3", n)
	}
}

func TestWrongPasswordDoesNotLeak(t *testing.T) {
	cert := newTestCert(t)
	ts := startServer(t, serverOpts{mode: "starttls", user: "alerts", pass: "the-right-one", cert: cert})
	m, lb := newMailer(t, smtpConfig(ts, 0, "starttls", "alerts"), t.TempDir(), 10, WithRootCAs(cert.pool))
	must(t, m.Enqueue(testMsg))
	err := m.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("want an authentication error, got %v", err)
	}
	assertNoPassword(t, "error", errString(err))
	r, err := m.Test(context.Background())
	if err == nil || r.OK() || r.Servers[0].AuthenticatedAs != "" {
		t.Fatalf("test with a wrong password: %+v, %v", r, err)
	}
	b, _ := json.Marshal(r)
	assertNoPassword(t, "report", string(b))
	assertNoPassword(t, "error", errString(err))
	assertNoPassword(t, "log", lb.String())
	if len(ts.messages()) != 0 {
		t.Error("mail accepted without authentication")
	}
}

func TestScrubMasksPassword(t *testing.T) {
	m, _ := newMailer(t, smtpConfig(nil, 25, "starttls", "alerts"), "", 1)
	err := m.scrub(fmt.Errorf("server said: bad password %s", testPassword))
	if strings.Contains(err.Error(), testPassword) || !strings.Contains(err.Error(), config.Mask) {
		t.Fatalf("scrub: %v", err)
	}
}

func TestFallbackUsedWhenMainIsDown(t *testing.T) {
	cert := newTestCert(t)
	fb := startServer(t, serverOpts{mode: "tls", user: "backup", pass: testPassword, cert: cert})
	cfg := smtpConfig(nil, freePort(t), "starttls", "alerts")
	cfg.Fallback = config.SMTPServer{Host: "127.0.0.1", Port: fb.port, Username: "backup", Password: testPassword, TLS: "tls"}
	m, lb := newMailer(t, cfg, t.TempDir(), 10, WithRootCAs(cert.pool))
	must(t, m.Enqueue(testMsg))
	must(t, m.Flush(context.Background()))
	if len(fb.messages()) != 1 {
		t.Fatalf("fallback got %d mails", len(fb.messages()))
	}
	if !strings.Contains(lb.String(), "via=\"fallback server") {
		t.Errorf("log does not name the fallback:\n%s", lb.String())
	}
	r, err := m.Test(context.Background())
	if err == nil || len(r.Servers) != 2 || r.Servers[0].Error == "" || r.Servers[0].Connected || r.Servers[1].Error != "" {
		t.Fatalf("test report %+v, %v", r, err)
	}
}

func TestQueueSurvivesOutageAndRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	port := freePort(t)
	cfg := smtpConfig(nil, port, "none", "")
	cfg.AllowPlain = true
	m, _ := newMailer(t, cfg, dir, 10)
	for i := range 3 {
		must(t, m.Enqueue(testBatch(fmt.Sprintf("mail%d", i), "body")))
	}
	if err := m.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with the server down")
	}
	if n, _ := m.Queued(); n != 3 {
		t.Fatalf("queue holds %d, want 3", n)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(m.q.Dir())
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("queue folder mode %v (%v), want 0700", fi.Mode().Perm(), err)
		}
		entries, _ := os.ReadDir(m.q.Dir())
		for _, e := range entries {
			fi, _ := e.Info()
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", e.Name(), fi.Mode().Perm())
			}
		}
	}

	// The server comes up; the agent restarts with a new mailer.
	ts := startServer(t, serverOpts{mode: "plain", port: port})
	m2, _ := newMailer(t, cfg, dir, 10)
	must(t, m2.Flush(context.Background()))
	must(t, m2.Flush(context.Background()))
	must(t, m.Flush(context.Background()))
	if subjects := subjects(t, ts); !slices.Equal(subjects, []string{subjectOf("mail0"), subjectOf("mail1"), subjectOf("mail2")}) {
		t.Fatalf("delivered %v, want each mail exactly once in order", subjects)
	}
}

func TestQueueMaxDropsOldest(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := smtpConfig(nil, port, "none", "")
	cfg.AllowPlain = true
	m, lb := newMailer(t, cfg, dir, 3)
	for i := range 5 {
		must(t, m.Enqueue(testBatch(fmt.Sprintf("mail%d", i), "body")))
	}
	if n, _ := m.Queued(); n != 3 {
		t.Fatalf("queue holds %d, want 3", n)
	}
	if c := strings.Count(lb.String(), "dropped the oldest item"); c != 2 {
		t.Errorf("logged %d drops, want 2:\n%s", c, lb.String())
	}
	ts := startServer(t, serverOpts{mode: "plain", port: port})
	must(t, m.Flush(context.Background()))
	if subjects := subjects(t, ts); !slices.Equal(subjects, []string{subjectOf("mail2"), subjectOf("mail3"), subjectOf("mail4")}) {
		t.Fatalf("delivered %v, want the newest three", subjects)
	}
}

func TestRunRetriesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := smtpConfig(nil, port, "none", "")
	cfg.AllowPlain = true
	m, lb := newMailer(t, cfg, dir, 10)
	m.q.SetBackoff(20*time.Millisecond, 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { m.q.Run(ctx); done <- nil }()
	must(t, m.Enqueue(testMsg))
	time.Sleep(300 * time.Millisecond)
	ts := startServer(t, serverOpts{mode: "plain", port: port})
	deadline := time.Now().Add(5 * time.Second)
	for len(ts.messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// A mail queued while idle goes out at once.
	must(t, m.Enqueue(testBatch("second", "body")))
	for len(ts.messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if n := len(ts.messages()); n != 2 {
		t.Fatalf("delivered %d mails, want 2", n)
	}
	if !strings.Contains(lb.String(), "retrying later") {
		t.Error("no retry logged")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := smtpConfig(nil, 587, "starttls", "")
	for name, mod := range map[string]func(*config.SMTP){
		"no host":      func(c *config.SMTP) { c.Host = "" },
		"bad from":     func(c *config.SMTP) { c.From = "not an address" },
		"no recipient": func(c *config.SMTP) { c.To = nil },
		"bad tls":      func(c *config.SMTP) { c.TLS = "ssl" },
		"bad auth":     func(c *config.SMTP) { c.Auth = "cram" },
		"fallback plain": func(c *config.SMTP) {
			c.Fallback = config.SMTPServer{Host: "127.0.0.1", TLS: "none"}
		},
	} {
		c := base
		mod(&c)
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(base, nil); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
