package portsip

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// Test credentials; the secrets are long and distinctive so that a leak in
// any error or log line is found by a plain substring search.
const (
	testUser  = "agent-monitor"
	testPass  = "S3cret-pa55word-XYZZY"
	wrongPass = "Wr0ng-pa55word-PLUGH"
)

// fakePBX emulates the parts of the PortSIP REST API the client uses.
type fakePBX struct {
	srv *httptest.Server

	mu           sync.Mutex
	password     string
	infoMode     string // "", "500", "502", "404", "slow"
	infoBody     string
	logins       int // password grants
	badLogins    int
	refreshes    int
	badRefresh   int
	filterCalls  int
	unauthorized int // ip_filters answered 401
	requests     int
	access       map[string]bool
	refresh      map[string]bool
	issued       []string // every token handed out
	filters      []map[string]any
	envelope     string // "array", "items", "data", "value", "odata"
	ignorePaging bool
	echoSecret   bool // error answers echo the submitted password
	blocked      bool // logins answered "blocked ... (DENIED)"
	release      chan struct{}
}

func newFakePBX(t *testing.T) *fakePBX {
	t.Helper()
	f := &fakePBX{
		password: testPass,
		infoBody: `{"version":"22.3.1","product":"PortSIP PBX"}`,
		access:   map[string]bool{},
		refresh:  map[string]bool{},
		envelope: "items",
		release:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/info", f.info)
	mux.HandleFunc("POST /api/login/oauth/token", f.token)
	mux.HandleFunc("GET /api/ip_filters", f.ipFilters)
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
	f.srv.StartTLS()
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

func (f *fakePBX) url() string { return f.srv.URL + "/api" }

func (f *fakePBX) set(fn func(f *fakePBX)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakePBX) count(fn func(f *fakePBX) int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fn(f)
}

func (f *fakePBX) info(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	mode, body := f.infoMode, f.infoBody
	f.mu.Unlock()
	switch mode {
	case "slow":
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		panic(http.ErrAbortHandler) // never answer
	case "500":
		http.Error(w, "Unknown Error", http.StatusInternalServerError)
	case "502":
		http.Error(w, "<html><body>502 Bad Gateway</body></html>", http.StatusBadGateway)
	case "404":
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

func randomToken(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (f *fakePBX) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("scope") != "all" {
		oauthError(w, http.StatusBadRequest, "invalid_client", "unknown client")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "password":
		f.logins++
		if f.blocked {
			oauthError(w, http.StatusForbidden, "DENIED", "the client IP address 127.0.0.1 has been blocked until 2030-01-01 10:00:00 (DENIED)")
			return
		}
		if r.PostForm.Get("username") != testUser || r.PostForm.Get("password") != f.password {
			f.badLogins++
			desc := "Login failed, authentication error."
			if f.echoSecret {
				desc += " password=" + r.PostForm.Get("password")
			}
			oauthError(w, http.StatusUnauthorized, "invalid_grant", desc)
			return
		}
	case "refresh_token":
		f.refreshes++
		rt := r.PostForm.Get("refresh_token")
		if !f.refresh[rt] {
			f.badRefresh++
			desc := "refresh token expired"
			if f.echoSecret {
				desc += ": " + rt
			}
			oauthError(w, http.StatusBadRequest, "invalid_grant", desc)
			return
		}
		delete(f.refresh, rt)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	at, rt := randomToken("at-"), randomToken("rt-")
	f.access[at] = true
	f.refresh[rt] = true
	f.issued = append(f.issued, at, rt)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 1800, "refresh_token": rt,
	})
}

func (f *fakePBX) ipFilters(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filterCalls++
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.access[tok] {
		f.unauthorized++
		oauthError(w, http.StatusUnauthorized, "invalid_token", "token expired")
		return
	}
	all := f.filters
	page := all
	if !f.ignorePaging {
		top, _ := strconv.Atoi(r.URL.Query().Get("top"))
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		if skip > len(all) {
			skip = len(all)
		}
		end := len(all)
		if top > 0 && skip+top < end {
			end = skip + top
		}
		page = all[skip:end]
	}
	if page == nil {
		page = []map[string]any{}
	}
	var v any
	switch f.envelope {
	case "array":
		v = page
	case "data":
		v = map[string]any{"data": map[string]any{"items": page, "total": len(all)}}
	case "value":
		v = map[string]any{"value": page}
	case "odata":
		v = map[string]any{"@odata.count": len(all), "Value": page}
	default:
		v = map[string]any{"items": page, "count": len(all)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// expireTokens makes the server forget every access token, as after expiry.
func (f *fakePBX) expireTokens() {
	f.set(func(f *fakePBX) { f.access = map[string]bool{} })
}

// secrets returns every secret the fake has seen or issued.
func (f *fakePBX) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{testPass, wrongPass, f.password}, f.issued...)
}

// logBuffer captures the client's log output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clock is an adjustable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestClient returns a client of f with a debug logger writing to logs.
func newTestClient(t *testing.T, f *fakePBX, pass, stateDir string, logs *logBuffer, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithTimeout(5 * time.Second),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	c, err := NewClient(f.url(), testUser, config.Secret(pass), true, stateDir, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
