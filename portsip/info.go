package portsip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GatewayState classifies the outcome of a probe of the REST API gateway.
type GatewayState string

// Gateway states, following section 5 of PortSIP's troubleshooting guide
// (500 = likely disk full, 502 = API gateway down).
const (
	// GatewayUp: /info answered 2xx.
	GatewayUp GatewayState = "up"
	// GatewayDown: 502 (or 503/504) — the front end answers but the API
	// gateway behind it does not; a full disk can cause it too.
	GatewayDown GatewayState = "gateway_down"
	// GatewayServerError: 500 — usually a full disk.
	GatewayServerError GatewayState = "server_error"
	// GatewayHTTPError: any other unexpected HTTP status (wrong api.url?).
	GatewayHTTPError GatewayState = "http_error"
	// GatewayTimeout: no answer within the timeout.
	GatewayTimeout GatewayState = "timeout"
	// GatewayTLSError: the TLS handshake failed (certificate not trusted,
	// name mismatch, plain HTTP on the port, ...).
	GatewayTLSError GatewayState = "tls_error"
	// GatewayRefused: nothing listens on the port.
	GatewayRefused GatewayState = "connection_refused"
	// GatewayDNSError: the host name of api.url does not resolve.
	GatewayDNSError GatewayState = "dns_error"
	// GatewayUnreachable: any other network failure (no route, reset, ...).
	GatewayUnreachable GatewayState = "unreachable"
)

// InfoResult is the outcome of a probe of GET {base}/info.
type InfoResult struct {
	URL   string       `json:"url"`
	State GatewayState `json:"state"`
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int `json:"status_code,omitempty"`
	// Duration is how long the probe took (until the body was read).
	Duration time.Duration `json:"duration_ns"`
	// Version is the PBX or API version when the JSON answer names one.
	Version string `json:"version,omitempty"`
	// Fields are the answer's top-level scalar fields (at most 32).
	Fields map[string]string `json:"fields,omitempty"`
	// Detail is the network error or an excerpt of an error response.
	Detail string `json:"detail,omitempty"`
}

// Info probes GET {base}/info, which needs no login, and classifies the
// outcome. The probe is bounded by the client's timeout. Failures of the PBX
// are reported in the result, not as an error; the error is non-nil only when
// ctx was cancelled (the agent is stopping) or the request cannot be built.
func (c *Client) Info(ctx context.Context) (*InfoResult, error) {
	u := c.base + "/info"
	pctx := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	r := &InfoResult{URL: u}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		r.Duration = time.Since(start)
		if errors.Is(pctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("probe %s: %w", u, pctx.Err())
		}
		r.State = ClassifyError(err)
		r.Detail = c.redactWith(transportError(err))
		c.log.Debug("REST API probe failed", "url", u, "state", string(r.State), "error", r.Detail)
		return r, nil
	}
	defer resp.Body.Close()
	body, readErr := readBody(resp.Body, maxSmallBody)
	r.Duration = time.Since(start)
	if errors.Is(pctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("probe %s: %w", u, pctx.Err())
	}
	r.StatusCode = resp.StatusCode
	switch sc := resp.StatusCode; {
	case sc >= 200 && sc < 300:
		r.State = GatewayUp
		r.Version, r.Fields = infoFields(body)
		if readErr != nil {
			r.Detail = "reading the answer: " + c.redactWith(transportError(readErr))
		}
	case sc == http.StatusInternalServerError:
		r.State = GatewayServerError
	case sc == http.StatusBadGateway || sc == http.StatusServiceUnavailable || sc == http.StatusGatewayTimeout:
		r.State = GatewayDown
	default:
		r.State = GatewayHTTPError
	}
	if r.State != GatewayUp {
		r.Detail = c.redactWith(snippet(body))
	}
	c.log.Debug("REST API probe", "url", u, "state", string(r.State), "status", r.StatusCode, "duration", r.Duration)
	return r, nil
}

// ClassifyError maps a request error to the gateway state it means.
func ClassifyError(err error) GatewayState {
	var (
		dnsErr     *net.DNSError
		verifyErr  *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		netErr     net.Error
	)
	msg := err.Error()
	switch {
	case errors.As(err, &dnsErr):
		return GatewayDNSError
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return GatewayTimeout
	case errors.As(err, &verifyErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		strings.Contains(msg, "x509: "), strings.Contains(msg, "tls: "),
		strings.Contains(msg, "HTTP response to HTTPS client"):
		return GatewayTLSError
	case errors.Is(err, syscall.ECONNREFUSED), isRefused(err), strings.Contains(msg, "connection refused"):
		return GatewayRefused
	default:
		return GatewayUnreachable
	}
}

// infoFields extracts the version and the scalar fields of a /info answer;
// the shape is not documented, so any JSON object is accepted.
func infoFields(body []byte) (string, map[string]string) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil || len(m) == 0 {
		return "", nil
	}
	// Some gateways wrap the answer in {"data": {...}}.
	if inner, ok := m["data"].(map[string]any); ok && len(m) <= 3 {
		m = inner
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := map[string]string{}
	for _, k := range keys {
		if len(fields) == 32 {
			break
		}
		var v string
		switch x := m[k].(type) {
		case string:
			v = x
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			v = strconv.FormatBool(x)
		default:
			continue
		}
		fields[k] = snippet([]byte(v))
	}
	version := ""
	for _, want := range []string{"version", "pbx_version", "server_version", "product_version", "api_version", "build"} {
		for _, k := range keys {
			if strings.EqualFold(k, want) && fields[k] != "" {
				version = fields[k]
				break
			}
		}
		if version != "" {
			break
		}
	}
	if len(fields) == 0 {
		fields = nil
	}
	return version, fields
}
