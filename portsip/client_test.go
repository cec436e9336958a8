package portsip

import (
	"context"
	"errors"
	"fmt"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// assertNoSecrets fails if any secret appears in any of texts.
func assertNoSecrets(t *testing.T, secrets []string, texts ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				t.Errorf("secret %q leaked into %q", s, txt)
			}
		}
	}
	for _, txt := range texts {
		if strings.Contains(txt, "Bearer ") || strings.Contains(strings.ToLower(txt), "authorization:") {
			t.Errorf("authorization header leaked into %q", txt)
		}
	}
}

func TestNewClientValidation(t *testing.T) {
	for _, u := range []string{"", "ftp://pbx/api", "https://", "https://user:hunter22@pbx:8887/api", "https://pbx/api?x=1", "://bad"} {
		_, err := NewClient(u, "u", "p", false, "")
		if err == nil {
			t.Errorf("NewClient(%q) accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("error leaks the URL password: %v", err)
		}
	}
	c, err := NewClient("https://127.0.0.1:8887/api/", "", "", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != "https://127.0.0.1:8887/api" || c.HasCredentials() || c.Timeout() != DefaultTimeout {
		t.Errorf("client %q creds=%v timeout=%v", c.BaseURL(), c.HasCredentials(), c.Timeout())
	}
}

func TestInfoUp(t *testing.T) {
	f := portsiptest.New(t)
	c := newTestClient(t, f, "", "", &logBuffer{})
	r, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.State != GatewayUp || r.StatusCode != 200 || r.Version != "22.3.1" || r.Fields["product"] != "PortSIP PBX" {
		t.Fatalf("got %+v", r)
	}
	if r.Duration <= 0 {
		t.Errorf("duration %v", r.Duration)
	}
	// Not JSON: still up, no version.
	f.Set(func(st *portsiptest.State) { st.InfoBody = "OK" })
	r, _ = c.Info(ctxT(t))
	if r.State != GatewayUp || r.Version != "" {
		t.Fatalf("got %+v", r)
	}
	if n := f.Count().Logins; n != 0 {
		t.Errorf("Info logged in %d times", n)
	}
}

func TestInfoHTTPStates(t *testing.T) {
	f := portsiptest.New(t)
	c := newTestClient(t, f, "", "", &logBuffer{})
	for mode, want := range map[string]GatewayState{"500": GatewayServerError, "502": GatewayDown, "404": GatewayHTTPError} {
		f.Set(func(st *portsiptest.State) { st.InfoMode = mode })
		r, err := c.Info(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if r.State != want || fmt.Sprint(r.StatusCode) != mode {
			t.Errorf("%s: got %+v", mode, r)
		}
	}
}

func TestInfoTimeout(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.InfoMode = "slow" })
	c := newTestClient(t, f, "", "", &logBuffer{}, WithTimeout(150*time.Millisecond))
	start := time.Now()
	r, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.State != GatewayTimeout {
		t.Fatalf("got %+v", r)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestInfoCancelled(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.InfoMode = "slow" })
	c := newTestClient(t, f, "", "", &logBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.Info(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestInfoRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient("https://"+addr+"/api", "", "", true, "", WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.State != GatewayRefused || r.StatusCode != 0 || r.Detail == "" {
		t.Fatalf("got %+v", r)
	}
}

func TestInfoTLSError(t *testing.T) {
	f := portsiptest.New(t)
	// Verification on against httptest's self-signed certificate.
	c, err := NewClient(f.URL, "", "", false, "", WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.State != GatewayTLSError || !strings.Contains(r.Detail, "certificate") {
		t.Fatalf("got %+v", r)
	}
	// Trusting the server's certificate explicitly makes it work with
	// verification on.
	pool := f.RootCAs()
	c, err = NewClient(f.URL, "", "", false, "", WithRootCAs(pool))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Info(ctxT(t)); r.State != GatewayUp {
		t.Fatalf("with the CA: %+v", r)
	}
}

func TestInfoPlainHTTPOnHTTPSURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err := NewClient(strings.Replace(srv.URL, "http://", "https://", 1)+"/api", "", "", true, "", WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Info(ctxT(t)); r.State != GatewayTLSError {
		t.Fatalf("got %+v", r)
	}
}

func TestClassifyError(t *testing.T) {
	cases := []struct {
		err  error
		want GatewayState
	}{
		{&net.DNSError{Err: "no such host", Name: "pbx.invalid", IsNotFound: true}, GatewayDNSError},
		{context.DeadlineExceeded, GatewayTimeout},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, GatewayTimeout},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), GatewayTLSError},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, GatewayRefused},
		{errors.New("connect: no route to host"), GatewayUnreachable},
	}
	for _, tc := range cases {
		if got := ClassifyError(tc.err); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestInfoDNSError(t *testing.T) {
	c, err := NewClient("https://pbx.invalid:8887/api", "", "", true, "", WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// A sandbox without a resolver can time out instead of answering.
	if r.State != GatewayDNSError && r.State != GatewayTimeout {
		t.Fatalf("got %+v", r)
	}
}

func TestTokenReusedAndRefreshed(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Filters = []map[string]any{{"id": 1, "cidr": "203.0.113.9", "target": "DENY", "expire_at": "2030-01-01T00:00:00Z"}}
	})
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	logs := &logBuffer{}
	c := newTestClient(t, f, testPass, t.TempDir(), logs, WithClock(clk.now))
	ctx := ctxT(t)
	for range 3 {
		list, err := c.IPFilters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].CIDR != "203.0.113.9" || !list[0].Denies() {
			t.Fatalf("got %+v", list)
		}
	}
	if l, r := f.Count().Logins, f.Count().Refreshes; l != 1 || r != 0 {
		t.Fatalf("after 3 calls: %d logins, %d refreshes; want 1, 0", l, r)
	}
	// 20 of 30 minutes: still young.
	clk.advance(20 * time.Minute)
	if _, err := c.IPFilters(ctx); err != nil {
		t.Fatal(err)
	}
	if r := f.Count().Refreshes; r != 0 {
		t.Fatalf("refreshed at 67%% of the lifetime")
	}
	// 25 of 30 minutes: past 80%, refreshed before it expires.
	clk.advance(5 * time.Minute)
	if _, err := c.IPFilters(ctx); err != nil {
		t.Fatal(err)
	}
	if l, r := f.Count().Logins, f.Count().Refreshes; l != 1 || r != 1 {
		t.Fatalf("near expiry: %d logins, %d refreshes; want 1, 1", l, r)
	}
	// The server forgets the token early: 401, refresh, retry.
	f.ExpireTokens()
	if _, err := c.IPFilters(ctx); err != nil {
		t.Fatal(err)
	}
	if l, r, u := f.Count().Logins, f.Count().Refreshes, f.Count().Unauthorized; l != 1 || r != 2 || u != 1 {
		t.Fatalf("after a 401: %d logins, %d refreshes, %d 401s; want 1, 2, 1", l, r, u)
	}
	// Refresh token refused too: one password login, then fine.
	f.RevokeTokens()
	if _, err := c.IPFilters(ctx); err != nil {
		t.Fatal(err)
	}
	if l, r := f.Count().Logins, f.Count().BadRefreshes; l != 2 || r != 1 {
		t.Fatalf("after a refused refresh: %d logins, %d bad refreshes; want 2, 1", l, r)
	}
	assertNoSecrets(t, secretsOf(f), logs.String())
}

func TestRefreshFailureFallsBackToOneLogin(t *testing.T) {
	f := portsiptest.New(t)
	dir := t.TempDir()
	logs := &logBuffer{}
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	c := newTestClient(t, f, testPass, dir, logs, WithClock(clk.now))
	ctx := ctxT(t)
	if _, err := c.IPFilters(ctx); err != nil {
		t.Fatal(err)
	}
	// The password is changed on the PBX and every token is revoked: the
	// refresh fails, one password login fails, and that is the end.
	f.RevokeTokens()
	f.Set(func(st *portsiptest.State) { st.Password = "changed-on-the-pbx" })
	clk.advance(31 * time.Minute)
	var errs []string
	for range 5 {
		_, err := c.IPFilters(ctx)
		if !errors.Is(err, ErrCredentialsRejected) {
			t.Fatalf("err = %v, want ErrCredentialsRejected", err)
		}
		errs = append(errs, err.Error())
	}
	if l, b, r := f.Count().Logins, f.Count().BadLogins, f.Count().Refreshes; l != 2 || b != 1 || r != 1 {
		t.Fatalf("%d logins (%d bad), %d refreshes; want 2 (1), 1", l, b, r)
	}
	assertNoSecrets(t, secretsOf(f), append(errs, logs.String())...)
}

func TestWrongPasswordOneAttemptEver(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.EchoSecret = true })
	dir := t.TempDir()
	logs := &logBuffer{}
	c := newTestClient(t, f, wrongPass, dir, logs)
	ctx := ctxT(t)
	var errs []string

	// Many calls, some concurrent.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.IPFilters(ctx)
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(err, ErrCredentialsRejected) {
				t.Errorf("err = %v, want ErrCredentialsRejected", err)
			}
			if err != nil {
				errs = append(errs, err.Error())
			}
		}()
	}
	wg.Wait()
	for range 10 {
		_, err := c.IPFilters(ctx)
		if !errors.Is(err, ErrCredentialsRejected) {
			t.Fatalf("err = %v", err)
		}
		errs = append(errs, err.Error())
	}
	if n := f.Count().Logins; n != 1 {
		t.Fatalf("%d login attempts with a wrong password, want 1", n)
	}

	// The marker: 0600, no password, a fingerprint.
	p := filepath.Join(dir, RejectedMarkerFile)
	if c.MarkerPath() != p {
		t.Errorf("MarkerPath = %q", c.MarkerPath())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("marker mode %v", fi.Mode().Perm())
		}
	}
	if !strings.Contains(string(b), `"fingerprint"`) || !strings.Contains(string(b), `"rejected_at"`) {
		t.Errorf("marker %s", b)
	}
	assertNoSecrets(t, []string{wrongPass, testPass}, string(b))

	// Restart: a new client with the same state folder does not try.
	requests := f.Count().Total
	c2 := newTestClient(t, f, wrongPass, dir, logs)
	for range 5 {
		_, err := c2.IPFilters(ctx)
		if !errors.Is(err, ErrCredentialsRejected) {
			t.Fatalf("after restart: err = %v", err)
		}
		errs = append(errs, err.Error())
	}
	if n := f.Count().Total; n != requests {
		t.Fatalf("after restart the client sent %d requests", n-requests)
	}
	// Info needs no login and still works.
	if r, err := c2.Info(ctx); err != nil || r.State != GatewayUp {
		t.Fatalf("Info: %+v, %v", r, err)
	}

	// Another user, or another URL, is another fingerprint: the marker is
	// ignored and removed, and the right password logs in.
	c3 := newTestClient(t, f, testPass, dir, logs)
	if _, err := c3.IPFilters(ctx); err != nil {
		t.Fatalf("changed password: %v", err)
	}
	if n := f.Count().Logins; n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("marker not removed: %v", err)
	}
	assertNoSecrets(t, secretsOf(f), append(errs, logs.String())...)
	t.Logf("error: %s", errs[0])
}

func TestMarkerWithoutStateDir(t *testing.T) {
	f := portsiptest.New(t)
	c := newTestClient(t, f, wrongPass, "", &logBuffer{})
	for range 3 {
		if _, err := c.IPFilters(ctxT(t)); !errors.Is(err, ErrCredentialsRejected) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := f.Count().Logins; n != 1 {
		t.Fatalf("%d logins", n)
	}
}

func TestCorruptMarkerAllowsOneAttempt(t *testing.T) {
	f := portsiptest.New(t)
	dir := t.TempDir()
	p := filepath.Join(dir, RejectedMarkerFile)
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, f, wrongPass, dir, &logBuffer{})
	for range 3 {
		if _, err := c.IPFilters(ctxT(t)); !errors.Is(err, ErrCredentialsRejected) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := f.Count().Logins; n != 1 {
		t.Fatalf("%d logins", n)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "fingerprint") {
		t.Fatalf("marker not rewritten: %s", b)
	}
}

func TestBlockedIPHoldsLogins(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.Blocked = true })
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	c := newTestClient(t, f, testPass, dir, &logBuffer{}, WithClock(clk.now))
	for range 4 {
		_, err := c.IPFilters(ctxT(t))
		if !errors.Is(err, ErrLoginHeld) || errors.Is(err, ErrCredentialsRejected) {
			t.Fatalf("err = %v, want ErrLoginHeld", err)
		}
	}
	if n := f.Count().Logins; n != 1 {
		t.Fatalf("%d logins while blocked", n)
	}
	if _, err := os.Stat(filepath.Join(dir, RejectedMarkerFile)); !os.IsNotExist(err) {
		t.Errorf("a blocked IP must not mark the credentials as wrong")
	}
	f.Set(func(st *portsiptest.State) { st.Blocked = false })
	clk.advance(16 * time.Minute)
	if _, err := c.IPFilters(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestNoCredentials(t *testing.T) {
	f := portsiptest.New(t)
	c, err := NewClient(f.URL, "", "", true, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IPFilters(ctxT(t)); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("err = %v", err)
	}
	if n := f.Count().Total; n != 0 {
		t.Fatalf("%d requests without credentials", n)
	}
}

func TestIPFiltersPagingAndEnvelopes(t *testing.T) {
	f := portsiptest.New(t)
	var want []map[string]any
	for i := range 23 {
		want = append(want, map[string]any{
			"id": fmt.Sprint(i), "cidr": fmt.Sprintf("203.0.113.%d", i), "target": "deny",
			"expire_at": 1767225600 + i, "description": "SIP scanner",
		})
	}
	f.Set(func(st *portsiptest.State) { st.Filters = want })
	for _, env := range []string{"items", "array", "data", "value", "odata"} {
		for _, ignore := range []bool{false, true} {
			f.Set(func(st *portsiptest.State) { st.FilterEnvelope = env; st.IgnorePaging = ignore })
			c := newTestClient(t, f, testPass, "", &logBuffer{}, WithPaging(5, 0))
			list, err := c.IPFilters(ctxT(t))
			if err != nil {
				t.Fatalf("%s: %v", env, err)
			}
			if len(list) != 23 {
				t.Fatalf("%s ignore=%v: %d entries", env, ignore, len(list))
			}
			e := list[22]
			if e.ID != "22" || e.Target != TargetDeny || e.ExpireAt.Unix() != 1767225622 || e.Description != "SIP scanner" {
				t.Errorf("%s: entry %+v", env, e)
			}
			if p, ok := e.Prefix(); !ok || p.String() != "203.0.113.22/32" {
				t.Errorf("prefix %v %v", p, ok)
			}
		}
	}
	// The page cap bounds the reading.
	f.Set(func(st *portsiptest.State) { st.FilterEnvelope = "array"; st.IgnorePaging = false })
	c := newTestClient(t, f, testPass, "", &logBuffer{}, WithPaging(5, 2))
	if list, err := c.IPFilters(ctxT(t)); err != nil || len(list) != 10 {
		t.Fatalf("capped: %d, %v", len(list), err)
	}
}

func TestIPFiltersAPIError(t *testing.T) {
	f := portsiptest.New(t)
	c := newTestClient(t, f, testPass, "", &logBuffer{})
	f.Set(func(st *portsiptest.State) { st.Fail = map[string]int{portsiptest.RouteIPFilters: 500} })
	_, err := c.IPFilters(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || errors.Is(err, ErrCredentialsRejected) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseFilterPage(t *testing.T) {
	cases := map[string]int{
		`[]`:                                 0,
		`{}`:                                 0,
		`{"items":null}`:                     0,
		`[{"cidr":"1.2.3.4"}, 5, "x", null]`: 1,
		`{"Data":[{"IP":"1.2.3.4","Action":"DENY","Expires_At":"1700000000000"}]}`: 1,
		`{"data":{"list":[{"cidr":"10.0.0.0/8"}]},"count":"1"}`:                    1,
	}
	for in, n := range cases {
		got, _, err := parseFilterPage([]byte(in))
		if err != nil || len(got) != n {
			t.Errorf("%s: %d entries, %v", in, len(got), err)
		}
	}
	got, _, _ := parseFilterPage([]byte(`{"Data":[{"IP":"1.2.3.4","Action":"deny","Expires_At":"1700000000000"}]}`))
	if got[0].CIDR != "1.2.3.4" || !got[0].Denies() || got[0].ExpireAt.Unix() != 1700000000 {
		t.Errorf("got %+v", got[0])
	}
	for _, in := range []string{``, `<html>`, `{"foo":[1]}`, `[1,`} {
		if _, _, err := parseFilterPage([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2025, 6, 1, 14, 5, 0, 0, time.UTC)
	for _, in := range []string{`"2025-06-01T14:05:00Z"`, `"2025-06-01T16:05:00+02:00"`, `"2025-06-01 14:05:00"`, `1748786700`, `1748786700000`, `"1748786700"`, `1748786700.0`} {
		got, err := ParseTime([]byte(in))
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v", in, got, err)
		}
	}
	for _, in := range []string{``, `null`, `""`, `0`, `"0"`} {
		if got, err := ParseTime([]byte(in)); err != nil || !got.IsZero() {
			t.Errorf("%s: %v, %v", in, got, err)
		}
	}
	for _, in := range []string{`"tomorrow"`, `-5`, `1e300`, `{}`, `"\u"`} {
		if _, err := ParseTime([]byte(in)); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	now := want
	if (IPFilter{ExpireAt: want.Add(-time.Second)}).Active(now) || !(IPFilter{}).Active(now) {
		t.Error("Active")
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.EchoSecret = true })
	logs := &logBuffer{}
	var errs []string
	// Wrong password echoed back by the server.
	c := newTestClient(t, f, wrongPass, t.TempDir(), logs)
	if _, err := c.IPFilters(ctxT(t)); err != nil {
		errs = append(errs, err.Error())
	}
	// A refresh token echoed back by the server.
	clk := &clock{t: time.Now()}
	c = newTestClient(t, f, testPass, t.TempDir(), logs, WithClock(clk.now))
	if _, err := c.IPFilters(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	f.RevokeTokens()
	f.Set(func(st *portsiptest.State) { st.Password = "x-changed-x" })
	clk.advance(time.Hour)
	if _, err := c.IPFilters(ctxT(t)); err != nil {
		errs = append(errs, err.Error())
	}
	// A server that closes the connection mid-login.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	defer ln.Close()
	c2, _ := NewClient("https://"+ln.Addr().String()+"/api", testUser, config.Secret(testPass), true, t.TempDir(),
		WithTimeout(time.Second), WithLogger(newTestClient(t, f, testPass, "", logs).log))
	if _, err := c2.IPFilters(ctxT(t)); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) != 3 {
		t.Fatalf("errors: %q", errs)
	}
	for _, e := range errs {
		t.Log(e)
	}
	if !strings.Contains(logs.String(), "level=") {
		t.Fatal("nothing logged")
	}
	assertNoSecrets(t, secretsOf(f), append(errs, logs.String())...)
}
