package portsip

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// RejectedMarkerFile is the file, in the agent's state folder, that records
// credentials the PBX rejected. It holds a salted SHA-256 fingerprint of
// (api.url, api.username, api.password) and the time — never the password.
// While it matches the configured credentials the agent does not log in;
// deleting it allows exactly one more attempt.
const RejectedMarkerFile = "api-login-rejected.json"

// Token lifetimes.
const (
	// defaultTokenLifetime is assumed when the token answer has no
	// expires_in (PortSIP issues 1800 s tokens).
	defaultTokenLifetime = 1800 * time.Second
	// refreshFraction of a token's lifetime passes before it is refreshed.
	refreshFraction = 0.8
	// heldBlocked is how long no login is tried after the PBX said this
	// host's IP address is blocked (the PBX blocks for 3600 s).
	heldBlocked = 15 * time.Minute
	// heldRefused is how long no login is tried after an unexpected 4xx.
	heldRefused = 30 * time.Minute
)

// token is the current OAuth token pair.
type token struct {
	access, refresh string
	obtained        time.Time
	expires         time.Time
}

// renewAt is when the token should be refreshed.
func (t token) renewAt() time.Time {
	life := t.expires.Sub(t.obtained)
	return t.obtained.Add(time.Duration(float64(life) * refreshFraction))
}

// tokenAnswer is the token endpoint's JSON answer, success or error.
type tokenAnswer struct {
	AccessToken      string          `json:"access_token"`
	RefreshToken     string          `json:"refresh_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Message          string          `json:"message"`
	Msg              string          `json:"msg"`
}

// loginError is a non-2xx answer of the token endpoint.
type loginError struct {
	status int
	code   string // OAuth error code, e.g. invalid_grant
	text   string // description, redacted
}

func (e *loginError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
	if e.code != "" {
		s += ", " + e.code
	}
	if e.text != "" {
		s += ": " + e.text
	}
	return s
}

// rejects reports whether the answer means the username or password is
// wrong: 401, 403, or 400 with an OAuth error about the grant or the
// credentials.
func (e *loginError) rejects() bool {
	switch e.status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusBadRequest:
		switch strings.ToLower(e.code) {
		case "invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "unauthorized":
			return true
		}
		t := strings.ToLower(e.code + " " + e.text)
		for _, w := range []string{"credential", "password", "username", "user name", "unauthorized", "authentication", "not found"} {
			if strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}

// blocked reports whether the answer says this host's IP is blocked
// ("the client IP address x.x.x.x has been blocked until ... (DENIED)").
func (e *loginError) blocked() bool {
	t := strings.ToLower(e.text)
	return strings.Contains(t, "blocked") || strings.Contains(e.text, "DENIED") || strings.Contains(e.code, "DENIED")
}

// accessToken returns a usable access token: the current one while it is
// young, else a refreshed one, else one from a password login. A failed
// refresh falls back to one password login at most; rejected credentials are
// never sent again.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rejected != nil {
		return "", c.rejected
	}
	now := c.now()
	if c.tok.access != "" && now.Before(c.tok.renewAt()) {
		return c.tok.access, nil
	}
	if c.tok.refresh != "" {
		err := c.refreshLocked(ctx)
		if err == nil {
			return c.tok.access, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		if c.tok.access != "" && now.Before(c.tok.expires) {
			// Still valid: keep using it and try to refresh next time.
			c.log.Warn("PBX API token refresh failed; using the current token until it expires", "error", err.Error())
			return c.tok.access, nil
		}
		c.log.Warn("PBX API token refresh failed; logging in again", "error", err.Error())
		c.tok = token{}
	}
	if err := c.passwordLoginLocked(ctx); err != nil {
		return "", err
	}
	return c.tok.access, nil
}

// invalidate forgets access (the API refused it) so that the next
// accessToken refreshes it; the refresh token is kept.
func (c *Client) invalidate(access string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.access == access {
		c.tok.access = ""
	}
}

// refreshLocked exchanges the refresh token for a new pair.
func (c *Client) refreshLocked(ctx context.Context) error {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {c.tok.refresh},
		"client_id":     {ClientID},
		"scope":         {"all"},
	}
	ans, err := c.postToken(ctx, form)
	if err != nil {
		c.tok.refresh = ""
		return fmt.Errorf("refresh the PBX API token: %w", err)
	}
	c.setToken(ans)
	c.log.Debug("PBX API token refreshed", "expires", c.tok.expires)
	return nil
}

// passwordLoginLocked logs in with the username and password unless the
// same credentials were rejected before (marker) or logins are on hold.
func (c *Client) passwordLoginLocked(ctx context.Context) error {
	if !c.HasCredentials() {
		return fmt.Errorf("log in to %s: %w (set api.username and api.password)", c.base, ErrNoCredentials)
	}
	if c.now().Before(c.holdUntil) {
		return c.holdErr
	}
	if err := c.checkMarkerLocked(); err != nil {
		return err
	}
	form := url.Values{
		"grant_type": {"password"},
		"username":   {c.username},
		"password":   {c.password.Reveal()},
		"scope":      {"all"},
		"client_id":  {ClientID},
	}
	c.log.Info("logging in to the PBX API", "url", c.base, "user", c.username)
	ans, err := c.postToken(ctx, form)
	if err == nil {
		c.setToken(ans)
		c.log.Info("logged in to the PBX API", "user", c.username, "expires", c.tok.expires)
		return nil
	}
	var le *loginError
	if !errors.As(err, &le) {
		return fmt.Errorf("log in to the PBX API as %q: %w", c.username, err)
	}
	switch {
	case le.blocked():
		c.holdUntil = c.now().Add(heldBlocked)
		c.holdErr = fmt.Errorf("%w until %s: the PBX has blocked this host's IP address (%s); remove it from IP Blacklist in the web portal or wait",
			ErrLoginHeld, c.holdUntil.Format(time.RFC3339), le)
		c.log.Error("PBX API login refused: this host's IP address is blocked", "user", c.username, "answer", le.Error(), "retry_after", c.holdUntil)
		return c.holdErr
	case le.rejects():
		c.rejected = fmt.Errorf("%w: the PBX answered %s to the login of user %q; not logging in again until api.username or api.password change (5 failures block this host's IP for an hour)",
			ErrCredentialsRejected, le, c.username)
		c.log.Error("PBX API rejected the agent's credentials; no further login until api.username or api.password change",
			"user", c.username, "answer", le.Error(), "marker", c.markerPath())
		if werr := c.writeMarkerLocked(le); werr != nil {
			c.log.Error("cannot record the rejected credentials; a restart would try them once more", "error", werr.Error())
			c.rejected = errors.Join(c.rejected, werr)
		}
		return c.rejected
	case le.status == http.StatusTooManyRequests || le.status >= 500:
		return fmt.Errorf("log in to the PBX API as %q: %w", c.username, err)
	default:
		c.holdUntil = c.now().Add(heldRefused)
		c.holdErr = fmt.Errorf("%w until %s: the PBX refused the login of user %q with %s",
			ErrLoginHeld, c.holdUntil.Format(time.RFC3339), c.username, le)
		c.log.Error("PBX API refused the login; holding further logins", "user", c.username, "answer", le.Error(), "retry_after", c.holdUntil)
		return c.holdErr
	}
}

// setToken installs a successful token answer.
func (c *Client) setToken(a *tokenAnswer) {
	now := c.now()
	life := defaultTokenLifetime
	if s := parseSeconds(a.ExpiresIn); s > 0 {
		life = time.Duration(s) * time.Second
	}
	refresh := a.RefreshToken
	if refresh == "" {
		refresh = c.tok.refresh
	}
	c.tok = token{access: a.AccessToken, refresh: refresh, obtained: now, expires: now.Add(life)}
}

// parseSeconds reads expires_in, a number or a numeric string; 0 if neither.
func parseSeconds(raw json.RawMessage) int64 {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 365*24*3600 {
		return 0
	}
	return int64(f)
}

// postToken posts form to the token endpoint; non-2xx answers are returned
// as *loginError. Nothing in the returned error contains the form's secrets.
func (c *Client) postToken(ctx context.Context, form url.Values) (*tokenAnswer, error) {
	u := c.base + "/login/oauth/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %s", u, c.redactWith(transportError(err), form.Get("refresh_token"), c.tok.access, c.tok.refresh))
	}
	defer resp.Body.Close()
	body, readErr := readBody(resp.Body, maxSmallBody)
	var a tokenAnswer
	jsonErr := json.Unmarshal(body, &a)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		text := a.ErrorDescription
		for _, t := range []string{a.Message, a.Msg} {
			if text == "" {
				text = t
			}
		}
		if jsonErr != nil {
			text = snippet(body)
		}
		return nil, &loginError{
			status: resp.StatusCode,
			code:   c.redactWith(snippet([]byte(a.Error)), form.Get("refresh_token"), c.tok.access, c.tok.refresh),
			text:   c.redactWith(snippet([]byte(text)), form.Get("refresh_token"), c.tok.access, c.tok.refresh),
		}
	}
	if readErr != nil {
		return nil, fmt.Errorf("read the token answer: %s", c.redactWith(transportError(readErr)))
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("token answer (HTTP %d) is not JSON: %v", resp.StatusCode, jsonErr)
	}
	if a.AccessToken == "" {
		return nil, fmt.Errorf("token answer (HTTP %d) has no access_token", resp.StatusCode)
	}
	return &a, nil
}

// marker is the content of RejectedMarkerFile.
type marker struct {
	Version     int       `json:"version"`
	Salt        string    `json:"salt"`
	Fingerprint string    `json:"fingerprint"`
	RejectedAt  time.Time `json:"rejected_at"`
	Status      int       `json:"status"`
	Reason      string    `json:"reason,omitempty"`
}

// markerPath returns the marker's path, "" without a state folder.
func (c *Client) markerPath() string {
	if c.stateDir == "" {
		return ""
	}
	return filepath.Join(c.stateDir, RejectedMarkerFile)
}

// MarkerPath returns the path of the file that records rejected
// credentials ("" when the client has no state folder).
func (c *Client) MarkerPath() string { return c.markerPath() }

// fingerprint hashes the salt and the length-prefixed URL, user and
// password with SHA-256.
func (c *Client) fingerprint(salt []byte) string {
	h := sha256.New()
	h.Write([]byte("pbxagent api login v1\x00"))
	h.Write(salt)
	for _, f := range []string{c.base, c.username, c.password.Reveal()} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkMarkerLocked returns ErrCredentialsRejected when the marker matches
// the configured credentials. A marker for other credentials is removed. A
// marker that exists but cannot be read stops the login: trying could lock
// the host out.
func (c *Client) checkMarkerLocked() error {
	p := c.markerPath()
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the rejected-login marker (not logging in to avoid locking this host out): %w", err)
	}
	var m marker
	salt, herr := []byte(nil), error(nil)
	if err = json.Unmarshal(b, &m); err == nil {
		salt, herr = hex.DecodeString(m.Salt)
	}
	if err != nil || herr != nil || len(salt) == 0 || m.Fingerprint == "" {
		c.log.Warn("ignoring an unreadable rejected-login marker", "marker", p)
		if rerr := os.Remove(p); rerr != nil {
			return fmt.Errorf("remove the unreadable rejected-login marker: %w", rerr)
		}
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(c.fingerprint(salt)), []byte(m.Fingerprint)) == 1 {
		c.rejected = fmt.Errorf("%w: the PBX rejected the login of user %q at %s (HTTP %d); not logging in again until api.username or api.password change (or %s is deleted)",
			ErrCredentialsRejected, c.username, m.RejectedAt.Format(time.RFC3339), m.Status, p)
		c.log.Warn("PBX API credentials were rejected before; not logging in", "user", c.username, "rejected_at", m.RejectedAt, "marker", p)
		return c.rejected
	}
	c.log.Info("PBX API credentials changed since the last rejection; logging in again", "user", c.username)
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove the outdated rejected-login marker: %w", err)
	}
	return nil
}

// writeMarkerLocked records the rejection of the current credentials.
func (c *Client) writeMarkerLocked(le *loginError) error {
	p := c.markerPath()
	if p == "" {
		return nil
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("salt for the rejected-login marker: %w", err)
	}
	m := marker{
		Version:     1,
		Salt:        hex.EncodeToString(salt),
		Fingerprint: c.fingerprint(salt),
		RejectedAt:  c.now().UTC(),
		Status:      le.status,
		Reason:      le.code,
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the rejected-login marker: %w", err)
	}
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state folder for the rejected-login marker: %w", err)
	}
	if err := atomicfile.Write(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the rejected-login marker: %w", err)
	}
	return nil
}
