// Package portsiptest is a fake PortSIP PBX REST API for tests, in the manner
// of net/http/httptest: one TLS server on loopback that serves the endpoints
// of the v22 OpenAPI excerpt the agent uses (/info, the OAuth token endpoint,
// /admin/status, /providers, /media_servers, /transports with their /status,
// /cdrs, /ip_filters), with the PBX's documented behaviours: bearer tokens
// that expire, a login lockout after five failures, the gateway's rate limit
// answered with 429, and paging with top/skip.
//
// Tests change what the server answers through Set, which hands them the
// State under the server's lock, and read what the agent did through the
// request counters. The package imports nothing of the agent, so the
// portsip package's own tests can use it.
package portsiptest

import (
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClientID is the OAuth client_id the PBX accepts (the portal's).
const ClientID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"

// Default credentials of a new server. The password is long and distinctive
// so that a leak into an error or a log line is found by a substring search.
const (
	User     = "agent-monitor"
	Password = "S3cret-pa55word-XYZZY"
)

// Routes as counted by Count: the method, a space and the path below /api
// with IDs replaced by {id}.
const (
	RouteInfo           = "GET /info"
	RouteToken          = "POST /login/oauth/token"
	RouteAdminStatus    = "GET /admin/status"
	RouteProviders      = "GET /providers"
	RouteProviderStatus = "GET /providers/{id}/status"
	RouteMediaServers   = "GET /media_servers"
	RouteMediaStatus    = "GET /media_servers/{id}/status"
	RouteTransports     = "GET /transports"
	RouteTransportState = "GET /transports/{id}/status"
	RouteCDRs           = "GET /cdrs"
	RouteIPFilters      = "GET /ip_filters"
)

// Trunk is one provider (SIP trunk) and its status.
type Trunk struct {
	ID     string
	Name   string
	Status string // ONLINE or OFFLINE
}

// MediaServer is one media server and its status.
type MediaServer struct {
	ID             string
	Name           string
	MaxConcurrency int
	Status         string // ONLINE or OFFLINE
	Concurrency    int
	CPU, Memory    int // percent
}

// Transport is one SIP transport and its status.
type Transport struct {
	ID       string
	Protocol string // UDP, TCP, TLS
	Port     int
	Status   string // ACTIVATED or DEACTIVATED
}

// CDR is one call detail record, as GET /cdrs lists it.
type CDR struct {
	ID         string    `json:"id"`
	Caller     string    `json:"caller"`
	Callee     string    `json:"callee"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	CallID     string    `json:"call_id"`
	Direction  string    `json:"direction,omitempty"`
	EndReason  string    `json:"end_reason,omitempty"`
	StatusCode int       `json:"status_code"`
	Trunk      string    `json:"trunk,omitempty"`
	Domain     string    `json:"callee_domain,omitempty"`
	Duration   int       `json:"duration"`
}

// State is everything the server answers; tests change it through Set.
type State struct {
	// User and Password are the accepted credentials.
	User, Password string
	// LockoutAfter failed password logins block the client for
	// LockoutFor (the PBX's web_failed_auth_amount, 5, and
	// web_blacklist_time_interval, 3600 s).
	LockoutAfter int
	LockoutFor   time.Duration
	// Blocked answers every password login with the PBX's "blocked ...
	// (DENIED)" refusal.
	Blocked bool
	// EchoSecret makes error answers repeat the submitted secrets, as a
	// careless server might.
	EchoSecret bool
	// TokenLifetime is the expires_in of issued tokens.
	TokenLifetime time.Duration

	// InfoMode is "", "500", "502", "404" or "slow" (never answers).
	InfoMode string
	// InfoBody is the JSON /info answers.
	InfoBody string

	// AdminStatus is the JSON object /admin/status answers.
	AdminStatus map[string]any
	Trunks      []Trunk
	Media       []MediaServer
	Transports  []Transport
	// CDRs are kept oldest first; /cdrs lists them newest first, or oldest
	// first with CDRsOldestFirst.
	CDRs            []CDR
	CDRsOldestFirst bool
	// Filters are /ip_filters entries; FilterEnvelope is "items" (the
	// documented {"items","count"}), "array", "data", "value" or "odata";
	// IgnorePaging sends every entry whatever top and skip say.
	Filters        []map[string]any
	FilterEnvelope string
	IgnorePaging   bool

	// Missing lists routes (RouteX constants) answered 404, as a PBX
	// version without the endpoint does.
	Missing map[string]bool
	// Fail maps routes to an HTTP status they answer with.
	Fail map[string]int

	// RateLimit is the number of authenticated requests allowed per
	// RateWindow (the gateway's access_limit, 5000 a minute); 0 means no
	// limit. Beyond it the server answers 429 with Retry-After.
	RateLimit  int
	RateWindow time.Duration
	RetryAfter time.Duration
}

// Server is a fake PortSIP REST API.
type Server struct {
	// URL is the API base, https://127.0.0.1:port/api.
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	st       State
	counts   map[string]int
	total    int
	auth     int // requests to authenticated endpoints
	logins   int // password grants
	bad      int // rejected password grants
	refresh  int
	badRef   int // refused refresh grants
	unauth   int // 401 answers to authenticated endpoints
	limited  int // 429 answers
	failed   int // consecutive failed logins
	lockedTo time.Time
	access   map[string]bool
	refreshT map[string]bool
	issued   []string
	window   time.Time
	inWindow int
	release  chan struct{}
}

// New starts a server with the default credentials and nothing configured;
// it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		st: State{
			User: User, Password: Password,
			LockoutAfter: 5, LockoutFor: time.Hour,
			TokenLifetime:  1800 * time.Second,
			InfoBody:       `{"version":"22.3.1","product":"PortSIP PBX"}`,
			FilterEnvelope: "items",
			RateWindow:     time.Minute,
			RetryAfter:     time.Second,
		},
		counts:   map[string]int{},
		access:   map[string]bool{},
		refreshT: map[string]bool{},
		release:  make(chan struct{}),
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
	s.srv.StartTLS()
	s.URL = s.srv.URL + "/api"
	t.Cleanup(s.Close)
	return s
}

// Close stops the server; it may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.release:
	default:
		close(s.release)
	}
	s.mu.Unlock()
	s.srv.Close()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Set runs fn with the server's state under its lock.
func (s *Server) Set(fn func(st *State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.st)
}

// Counts of what clients did.
type Counts struct {
	// Total is every request; Auth those to endpoints that need a token.
	Total, Auth int
	// Logins are password grants, BadLogins the rejected ones, Refreshes
	// the refresh grants.
	Logins, BadLogins, Refreshes int
	// BadRefreshes are the refused refresh grants.
	BadRefreshes int
	// Unauthorized are the 401 answers to a missing or expired token.
	Unauthorized int
	// RateLimited are the 429 answers.
	RateLimited int
	// Routes counts requests by route (RouteX constants).
	Routes map[string]int
}

// Count returns the counters.
func (s *Server) Count() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		r[k] = v
	}
	return Counts{Total: s.total, Auth: s.auth, Logins: s.logins, BadLogins: s.bad, Refreshes: s.refresh,
		BadRefreshes: s.badRef, Unauthorized: s.unauth, RateLimited: s.limited, Routes: r}
}

// ResetCounts zeroes the counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.total, s.auth, s.logins, s.bad, s.refresh, s.badRef, s.unauth, s.limited = 0, 0, 0, 0, 0, 0, 0, 0
}

// ExpireTokens forgets every access token, as after their expiry.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = map[string]bool{}
}

// RevokeTokens forgets every access and refresh token, as after a password
// change on the PBX.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access, s.refreshT = map[string]bool{}, map[string]bool{}
}

// RootCAs returns a pool that trusts the server's certificate (issued for
// 127.0.0.1 and example.com).
func (s *Server) RootCAs() *x509.CertPool {
	return s.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

// Secrets returns every secret the server knows or issued, for leak checks.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{s.st.Password}, s.issued...)
}

// route names a request for counting; ok is false for unknown paths.
func route(method, path string) (string, string) {
	p := strings.TrimPrefix(path, "/api")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) == 3 && parts[2] == "status" {
		return method + " /" + parts[0] + "/{id}/status", parts[1]
	}
	return method + " " + p, ""
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rt, id := route(r.Method, r.URL.Path)
	missing, fail := s.count(rt)
	switch {
	case rt == RouteInfo:
		s.info(w, r)
		return
	case rt == RouteToken:
		s.token(w, r)
		return
	}
	if !s.authorized(r) {
		s.mu.Lock()
		s.unauth++
		s.mu.Unlock()
		jsonError(w, http.StatusUnauthorized, "invalid_token", "token expired")
		return
	}
	if s.rateLimited(w) {
		return
	}
	switch {
	case missing:
		http.NotFound(w, r)
		return
	case fail != 0:
		http.Error(w, "Unknown Error", fail)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := dataRoutes[rt]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h(s, w, r, id)
}

// count counts a request on route rt and returns whether the test made the
// route missing or failing.
func (s *Server) count(rt string) (missing bool, fail int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.counts[rt]++
	if rt != RouteInfo && rt != RouteToken {
		s.auth++
	}
	return s.st.Missing[rt], s.st.Fail[rt]
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok && s.access[tok]
}

// rateLimited counts an authenticated request against the limit and answers
// 429 when it is exceeded.
func (s *Server) rateLimited(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.RateLimit <= 0 {
		return false
	}
	now := time.Now()
	if now.Sub(s.window) >= s.st.RateWindow {
		s.window, s.inWindow = now, 0
	}
	s.inWindow++
	if s.inWindow <= s.st.RateLimit {
		return false
	}
	s.limited++
	secs := max(int(s.st.RetryAfter.Round(time.Second)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
	return true
}
