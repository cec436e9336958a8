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
	"encoding/json"
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

// dataRoutes answer the routes that need a token, with s.mu held.
var dataRoutes = map[string]func(s *Server, w http.ResponseWriter, r *http.Request, id string){
	RouteAdminStatus: func(s *Server, w http.ResponseWriter, _ *http.Request, _ string) {
		writeJSON(w, s.st.AdminStatus)
	},
	RouteProviders: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		page(w, r, len(s.st.Trunks), func(i int) any {
			t := s.st.Trunks[i]
			return map[string]any{"id": t.ID, "name": t.Name, "enabled": true, "hostname": "sip." + t.Name + ".example", "port": 5060}
		})
	},
	RouteProviderStatus: func(s *Server, w http.ResponseWriter, r *http.Request, id string) {
		byID(w, r, s.st.Trunks, id, func(t Trunk) string { return t.ID }, func(t Trunk) any {
			return map[string]any{"status": t.Status}
		})
	},
	RouteMediaServers: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		page(w, r, len(s.st.Media), func(i int) any {
			m := s.st.Media[i]
			return map[string]any{"id": m.ID, "name": m.Name, "type": "INTERNAL", "enabled": true, "max_concurrency": m.MaxConcurrency}
		})
	},
	RouteMediaStatus: func(s *Server, w http.ResponseWriter, r *http.Request, id string) {
		byID(w, r, s.st.Media, id, func(m MediaServer) string { return m.ID }, func(m MediaServer) any {
			return map[string]any{"status": m.Status, "current_concurrency": m.Concurrency, "cpu_usage": m.CPU, "memory_usage": m.Memory}
		})
	},
	RouteTransports: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		page(w, r, len(s.st.Transports), func(i int) any {
			t := s.st.Transports[i]
			return map[string]any{"id": t.ID, "protocol": t.Protocol, "port": t.Port}
		})
	},
	RouteTransportState: func(s *Server, w http.ResponseWriter, r *http.Request, id string) {
		byID(w, r, s.st.Transports, id, func(t Transport) string { return t.ID }, func(t Transport) any {
			return map[string]any{"status": t.Status}
		})
	},
	RouteCDRs: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		n := len(s.st.CDRs)
		if s.st.CDRsOldestFirst {
			page(w, r, n, func(i int) any { return s.st.CDRs[i] })
			return
		}
		page(w, r, n, func(i int) any { return s.st.CDRs[n-1-i] })
	},
	RouteIPFilters: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		s.ipFilters(w, r)
	},
}

// byID answers with the status of the item with this id, or 404.
func byID[T any](w http.ResponseWriter, r *http.Request, items []T, id string, idOf func(T) string, status func(T) any) {
	for _, it := range items {
		if idOf(it) == id {
			writeJSON(w, status(it))
			return
		}
	}
	http.NotFound(w, r)
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

// page writes items skip..skip+top of n (top at most 100, as documented) in
// the documented {"count","items"} envelope.
func page(w http.ResponseWriter, r *http.Request, n int, item func(i int) any) {
	q := r.URL.Query()
	top, err := strconv.Atoi(q.Get("top"))
	if err != nil || top <= 0 || top > 100 {
		top = 100
	}
	skip, _ := strconv.Atoi(q.Get("skip"))
	skip = min(max(skip, 0), n)
	end := min(skip+top, n)
	items := make([]any, 0, end-skip)
	for i := skip; i < end; i++ {
		items = append(items, item(i))
	}
	writeJSON(w, map[string]any{"count": n, "items": items})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// ipFilters answers /ip_filters; the caller holds s.mu.
func (s *Server) ipFilters(w http.ResponseWriter, r *http.Request) {
	all := s.st.Filters
	pg := all
	if !s.st.IgnorePaging {
		top, _ := strconv.Atoi(r.URL.Query().Get("top"))
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		skip = min(max(skip, 0), len(all))
		end := len(all)
		if top > 0 && skip+top < end {
			end = skip + top
		}
		pg = all[skip:end]
	}
	if pg == nil {
		pg = []map[string]any{}
	}
	var v any
	switch s.st.FilterEnvelope {
	case "array":
		v = pg
	case "data":
		v = map[string]any{"data": map[string]any{"items": pg, "total": len(all)}}
	case "value":
		v = map[string]any{"value": pg}
	case "odata":
		v = map[string]any{"@odata.count": len(all), "Value": pg}
	default:
		v = map[string]any{"items": pg, "count": len(all)}
	}
	writeJSON(w, v)
}
