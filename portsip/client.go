// Package portsip is the agent's client of the PortSIP PBX REST API
// (https://<host>:8887/api by default).
//
// It has its own package because several parts of the agent talk to the same
// API — the gateway probe, the IP blacklist check and the support bundle —
// and they must share one login. The PBX blocks a client's IP address for an
// hour after five failed logins, so the rules that keep the agent from locking
// its own host out live here, once: a rejected password is never sent again
// (see ErrCredentialsRejected), not even after a restart, until the configured
// credentials change.
//
// The client never logs or returns the password, the tokens or the
// Authorization header; text the PBX sends back is scrubbed of them before it
// reaches an error or a log line.
package portsip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/redact"
	"golang.org/x/time/rate"
)

// ClientID is the OAuth client_id the PortSIP web portal uses for password
// logins to the REST API.
const ClientID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"

// DefaultTimeout bounds one request when WithTimeout is not given.
const DefaultTimeout = 30 * time.Second

// Default paging of IPFilters.
const (
	DefaultPageSize = 100
	DefaultMaxPages = 50
)

// DefaultRate is the pace of authenticated requests, per second: 1200 a
// minute, a quarter of the gateway's default limit (5000 a minute,
// [apigateway] access_limit), so the agent never competes with the portal.
const DefaultRate = 20

// Limits on the bodies read from the API.
const (
	maxSmallBody = 1 << 20 // /info and the token endpoint
	maxPageBody  = 8 << 20 // one page of a list
)

// Errors of the client; test them with errors.Is.
var (
	// ErrCredentialsRejected means the PBX refused the configured
	// username/password. The client does not log in again with the same
	// credentials — not in this process and, through a marker file in the
	// state folder, not after a restart — because five failures block the
	// agent's IP address for an hour. It logs in again once
	// api.username or api.password changes.
	ErrCredentialsRejected = errors.New("PBX API credentials rejected")
	// ErrLoginHeld means the client refused to log in for a while after the
	// PBX answered a login in a way that more attempts could make worse
	// (this host's IP already blocked, or an unexpected refusal).
	ErrLoginHeld = errors.New("PBX API login on hold")
	// ErrNoCredentials means api.username or api.password is not set.
	ErrNoCredentials = errors.New("PBX API credentials not configured")
	// ErrForbidden means the PBX answered 403 to a request with a valid
	// token: the API user lacks the permission (a tenant user asking a
	// system administrator's endpoint).
	ErrForbidden = errors.New("the API user may not read this")
	// ErrNotSupported means the PBX answered 404: its version lacks the
	// endpoint.
	ErrNotSupported = errors.New("endpoint not available in this PBX version")
)

// Client talks to one PortSIP REST API. It is safe for concurrent use; logins
// are serialised so that concurrent callers never send the password twice.
type Client struct {
	base     string
	username string
	password config.Secret
	stateDir string
	http     *http.Client
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
	pageSize int
	maxPages int
	rootCAs  *x509.CertPool
	rate     float64
	pace     *rate.Limiter
	requests atomic.Int64

	mu        sync.Mutex // serialises logins; guards the fields below
	tok       token
	rejected  error     // set once the credentials were rejected
	holdUntil time.Time // no password login before this
	holdErr   error     // why
}

// Option adjusts a Client.
type Option func(*Client)

// WithTimeout bounds every request (connection, TLS handshake, response);
// the gateway check passes checks.gateway.timeout. Zero or less keeps
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithClock sets the clock used for token lifetimes and the rejection
// marker's time; the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithRootCAs verifies the PBX certificate against pool instead of the
// system roots (a private CA); it has no effect when verification is off.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(c *Client) { c.rootCAs = pool }
}

// WithPaging sets the page size and the maximum number of pages IPFilters
// reads; values of zero or less keep the defaults.
func WithPaging(pageSize, maxPages int) Option {
	return func(c *Client) {
		if pageSize > 0 {
			c.pageSize = pageSize
		}
		if maxPages > 0 {
			c.maxPages = maxPages
		}
	}
}

// WithRate sets the pace of authenticated requests per second; zero or less
// keeps DefaultRate.
func WithRate(perSecond float64) Option {
	return func(c *Client) {
		if perSecond > 0 {
			c.rate = perSecond
		}
	}
}

// NewClient returns a client of the REST API at baseURL (api.url, e.g.
// https://127.0.0.1:8887/api). username and password may be empty: Info
// needs no login. insecureSkipVerify turns off certificate verification,
// which a stock PBX with its self-signed certificate needs. stateDir holds
// the marker that remembers rejected credentials across restarts; empty
// keeps it in memory only.
func NewClient(baseURL, username string, password config.Secret, insecureSkipVerify bool, stateDir string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("api.url is not a URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("api.url %q: want an https:// URL such as https://127.0.0.1:8887/api", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("api.url %q has no host", u.Redacted())
	}
	if u.User != nil {
		return nil, errors.New("api.url must not contain a user or password; use api.username and api.password")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("api.url %q must not have a query or fragment", u.Redacted())
	}
	c := &Client{
		base:     strings.TrimRight(u.String(), "/"),
		username: username,
		password: password,
		stateDir: stateDir,
		timeout:  DefaultTimeout,
		log:      slog.New(slog.DiscardHandler),
		now:      time.Now,
		pageSize: DefaultPageSize,
		maxPages: DefaultMaxPages,
		rate:     DefaultRate,
	}
	for _, o := range opts {
		o(c)
	}
	c.pace = rate.NewLimiter(rate.Limit(c.rate), max(int(c.rate/4), 1))
	dialer := &net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: insecureSkipVerify, RootCAs: c.rootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   c.timeout,
		ResponseHeaderTimeout: c.timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	c.http = &http.Client{
		Transport: tr,
		Timeout:   c.timeout,
		// Never follow redirects: a redirected login could carry the
		// password elsewhere, and the API does not redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// BaseURL returns the API base URL without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Username returns the configured API user.
func (c *Client) Username() string { return c.username }

// HasCredentials reports whether a username and a password are configured,
// which every call but Info needs.
func (c *Client) HasCredentials() bool {
	return c.username != "" && c.password.Reveal() != ""
}

// Requests returns how many authenticated requests the client has sent.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Timeout returns the bound of one request.
func (c *Client) Timeout() time.Duration { return c.timeout }

// CloseIdleConnections closes kept-alive connections to the PBX.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// redact removes the password and the current tokens from s, for text that
// goes into errors and logs.
func (c *Client) redact(s string) string {
	c.mu.Lock()
	secrets := []string{c.tok.access, c.tok.refresh}
	c.mu.Unlock()
	return c.redactWith(s, secrets...)
}

// redactWith removes the password and more from s; it takes no lock, for
// callers that hold c.mu or must not wait for a login in progress. The
// values go in every spelling a server could echo (plain, form-encoded,
// base64), and the general rules of package redact also apply (a
// "password" or "access_token" field of a JSON answer, a bearer token).
func (c *Client) redactWith(s string, more ...string) string {
	secrets := append([]string{c.password.Reveal()}, more...)
	s, _ = redact.New().WithValues(secrets...).String(s)
	return s
}

// readBody reads at most limit bytes of a response body.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}

// snippet returns a short printable excerpt of a response body for errors.
func snippet(b []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) {
		return fmt.Sprintf("(%d bytes of binary data)", len(b))
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-3]) + "..."
	}
	return s
}

// transportError strips the method and URL net/http puts in front of a
// request error, keeping the cause; the URL carries no secret but makes
// messages long.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
