package mailer

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/redact"
)

// startEchoServer runs a plain-text SMTP server that rejects every login
// and echoes the credentials it got in its error replies: base64 as sent,
// decoded, and URL-encoded, as careless servers and proxies do.
func startEchoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go echoSession(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func echoSession(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	read := func() string { l, _ := br.ReadString('\n'); return strings.TrimRight(l, "\r\n") }
	reject := func(b64 string) {
		dec, _ := base64.StdEncoding.DecodeString(b64)
		shown := strings.ReplaceAll(string(dec), "\x00", " ")
		say("535-5.7.8 rejected AUTH " + b64)
		say("535-5.7.8 decoded: " + shown + " password=" + shown)
		say("535 5.7.8 form: pw=" + url.QueryEscape(shown))
	}
	say("220 echo.test ESMTP")
	for {
		l := read()
		up := strings.ToUpper(l)
		switch {
		case l == "" || strings.HasPrefix(up, "QUIT"):
			say("221 bye")
			return
		case strings.HasPrefix(up, "EHLO"):
			say("250-echo.test")
			say("250 AUTH PLAIN LOGIN")
		case strings.HasPrefix(up, "AUTH PLAIN "):
			reject(strings.TrimSpace(l[len("AUTH PLAIN "):]))
		case strings.HasPrefix(up, "AUTH PLAIN"):
			say("334 ")
			reject(read())
		case strings.HasPrefix(up, "AUTH LOGIN"):
			say("334 VXNlcm5hbWU6")
			read()
			say("334 UGFzc3dvcmQ6")
			reject(read())
		default:
			say("250 ok")
		}
	}
}

// TestEchoedCredentialsDoNotLeak: what `pbxagent run` (queued delivery)
// and `pbxagent alert test` log, return and report holds none of the
// spellings of the password a server echoes back.
func TestEchoedCredentialsDoNotLeak(t *testing.T) {
	port := startEchoServer(t)
	leaks := []string{
		testPassword,
		base64.StdEncoding.EncodeToString([]byte(testPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00alerts\x00" + testPassword)),
		url.QueryEscape(" alerts " + testPassword),
	}
	check := func(what, s string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(s, l) {
				t.Errorf("%s holds %q:\n%s", what, l, s)
			}
		}
	}
	for _, auth := range []string{"plain", "login"} {
		cfg := smtpConfig(nil, port, "none", "alerts")
		cfg.AllowPlain, cfg.Auth = true, auth
		m, lb := newMailer(t, cfg, t.TempDir(), 10, WithRedactor(redact.New().WithValues("api-Secret-9")))
		must(t, m.Enqueue(testMsg))
		err := m.Flush(context.Background())
		if err == nil || !strings.Contains(err.Error(), "535") {
			t.Fatalf("%s: want the server's 535, got %v", auth, err)
		}
		check(auth+" delivery error", err.Error())
		r, err := m.Test(context.Background())
		if err == nil || r.OK() {
			t.Fatalf("%s: test passed against a server that refuses: %+v", auth, r)
		}
		b, _ := json.Marshal(r)
		check(auth+" alert test report", string(b))
		check(auth+" alert test error", err.Error())
		check(auth+" log", lb.String())
		if !strings.Contains(string(b)+err.Error(), redact.Marker) {
			t.Errorf("%s: the echo was not visibly redacted: %s %v", auth, b, err)
		}
	}
}

// TestMailTextIsRedacted: a secret in an alert's text (an API error that
// quoted a token, a log line) is redacted in the mail the server gets, even
// when the queued batch was not (the fan-out scrubs batches before they
// are queued; see notify).
func TestMailTextIsRedacted(t *testing.T) {
	ts := startServer(t, serverOpts{mode: "plain", port: freePort(t)})
	cfg := smtpConfig(ts, 0, "none", "")
	cfg.AllowPlain = true
	cfg.Password = testPassword // known to the mailer, not used: no user
	m, _ := newMailer(t, cfg, t.TempDir(), 10, WithRedactor(redact.New().WithValues("api-Secret-9")))
	b := testBatch("api", "API login failed for api-Secret-9: POST /api/login: 401 {\"password\":\"hunter2\"}")
	b.Events[0].Advice = "smtp " + testPassword + "\nAuthorization: Bearer tok.abc.def"
	must(t, m.Enqueue(b))
	must(t, m.Flush(context.Background()))
	got := ts.messages()
	if len(got) != 1 {
		t.Fatalf("server got %d mails", len(got))
	}
	_, p := parts(t, got[0].Data)
	all := string(got[0].Data) + p["text/plain"] + p["text/html"]
	for _, bad := range []string{"api-Secret-9", "hunter2", testPassword, "tok.abc.def"} {
		if strings.Contains(all, bad) {
			t.Errorf("mail holds %q:\n%s", bad, all)
		}
	}
	if !strings.Contains(p["text/plain"], redact.Marker) {
		t.Errorf("no visible redaction in %s", p["text/plain"])
	}
}
