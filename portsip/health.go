package portsip

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AdminStatus is the answer of GET /admin/status (system administrator
// token). Counts the answer does not carry are -1.
type AdminStatus struct {
	Version     string `json:"version,omitempty"`
	LicenseType string `json:"license_type,omitempty"`
	// MaintenanceExpiresAt is zero when the answer has none.
	MaintenanceExpiresAt time.Time `json:"maintenance_expires_at,omitzero"`
	MaxConcurrentCalls   int       `json:"max_concurrent_calls"`
	LicensedUsers        int       `json:"licensed_users"`
	CurrentUsers         int       `json:"current_users"`
	OnlineUsers          int       `json:"online_users"`
	CurrentCalls         int       `json:"current_calls"`
	CurrentTrunks        int       `json:"current_trunks"`
}

// AdminStatus reads GET /admin/status. A PBX without the endpoint gives an
// error wrapping ErrNotSupported.
func (c *Client) AdminStatus(ctx context.Context) (*AdminStatus, error) {
	body, err := c.getJSON(ctx, "/admin/status", nil)
	if err != nil {
		return nil, err
	}
	m, err := lowerKeys(unwrapData(body))
	if err != nil {
		return nil, fmt.Errorf("GET %s/admin/status: decode the answer: %w", c.base, err)
	}
	s := &AdminStatus{
		Version:            scalarString(m["version"]),
		LicenseType:        scalarString(m["license_type"]),
		MaxConcurrentCalls: intField(m, "max_concurrent_calls"),
		LicensedUsers:      intField(m, "licensed_users"),
		CurrentUsers:       intField(m, "current_users"),
		OnlineUsers:        intField(m, "online_users"),
		CurrentCalls:       intField(m, "current_calls"),
		CurrentTrunks:      intField(m, "current_trunks"),
	}
	if raw, ok := m["maintenance_expires_at"]; ok {
		if s.MaintenanceExpiresAt, err = ParseTime(raw); err != nil {
			return nil, fmt.Errorf("GET %s/admin/status: maintenance_expires_at: %w", c.base, err)
		}
	}
	return s, nil
}

// Trunk is one provider (SIP trunk) of GET /providers.
type Trunk struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

// Providers lists the trunks, page by page.
func (c *Client) Providers(ctx context.Context) ([]Trunk, error) {
	var out []Trunk
	err := c.eachItem(ctx, "/providers", func(m map[string]json.RawMessage) {
		out = append(out, Trunk{ID: scalarString(m["id"]), Name: scalarString(m["name"]), Enabled: boolField(m, "enabled", true)})
	})
	return out, err
}

// ProviderStatus reads GET /providers/{id}/status: ONLINE or OFFLINE.
func (c *Client) ProviderStatus(ctx context.Context, id string) (string, error) {
	m, err := c.getObject(ctx, "/providers/"+url.PathEscape(id)+"/status")
	if err != nil {
		return "", err
	}
	return strings.ToUpper(scalarString(m["status"])), nil
}

// MediaServer is one entry of GET /media_servers.
type MediaServer struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Enabled        bool   `json:"enabled"`
	MaxConcurrency int    `json:"max_concurrency"`
}

// MediaServers lists the media servers, page by page.
func (c *Client) MediaServers(ctx context.Context) ([]MediaServer, error) {
	var out []MediaServer
	err := c.eachItem(ctx, "/media_servers", func(m map[string]json.RawMessage) {
		out = append(out, MediaServer{ID: scalarString(m["id"]), Name: scalarString(m["name"]),
			Enabled: boolField(m, "enabled", true), MaxConcurrency: intField(m, "max_concurrency")})
	})
	return out, err
}

// MediaServerStatus is GET /media_servers/{id}/status; numbers it lacks
// are -1.
type MediaServerStatus struct {
	Status      string `json:"status"` // ONLINE or OFFLINE
	Concurrency int    `json:"current_concurrency"`
	CPU         int    `json:"cpu_usage"`
	Memory      int    `json:"memory_usage"`
}

// MediaServerStatus reads one media server's status.
func (c *Client) MediaServerStatus(ctx context.Context, id string) (*MediaServerStatus, error) {
	m, err := c.getObject(ctx, "/media_servers/"+url.PathEscape(id)+"/status")
	if err != nil {
		return nil, err
	}
	return &MediaServerStatus{Status: strings.ToUpper(scalarString(m["status"])), Concurrency: intField(m, "current_concurrency"),
		CPU: intField(m, "cpu_usage"), Memory: intField(m, "memory_usage")}, nil
}

// Transport is one SIP transport of GET /transports.
type Transport struct {
	ID       string `json:"id"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
}

// Transports lists the SIP transports, page by page.
func (c *Client) Transports(ctx context.Context) ([]Transport, error) {
	var out []Transport
	err := c.eachItem(ctx, "/transports", func(m map[string]json.RawMessage) {
		out = append(out, Transport{ID: scalarString(m["id"]), Protocol: strings.ToUpper(scalarString(m["protocol"])), Port: intField(m, "port")})
	})
	return out, err
}

// TransportStatus reads GET /transports/{id}/status: ACTIVATED or
// DEACTIVATED.
func (c *Client) TransportStatus(ctx context.Context, id string) (string, error) {
	m, err := c.getObject(ctx, "/transports/"+url.PathEscape(id)+"/status")
	if err != nil {
		return "", err
	}
	return strings.ToUpper(scalarString(m["status"])), nil
}

// CDR is one call detail record of GET /cdrs.
type CDR struct {
	ID           string    `json:"id"`
	CallID       string    `json:"call_id,omitempty"`
	Caller       string    `json:"caller,omitempty"`
	Callee       string    `json:"callee,omitempty"`
	CalleeDomain string    `json:"callee_domain,omitempty"`
	CallerDomain string    `json:"caller_domain,omitempty"`
	Destination  string    `json:"destination,omitempty"`
	Trunk        string    `json:"trunk,omitempty"`
	Direction    string    `json:"direction,omitempty"`
	EndReason    string    `json:"end_reason,omitempty"`
	StatusCode   int       `json:"status_code"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	EndedAt      time.Time `json:"ended_at,omitzero"`
}

// CDRPage reads one page of GET /cdrs (top entries from skip); total is -1
// when the answer does not carry a count.
func (c *Client) CDRPage(ctx context.Context, skip, top int) ([]CDR, int, error) {
	q := url.Values{"top": {strconv.Itoa(top)}, "skip": {strconv.Itoa(skip)}}
	body, err := c.getJSON(ctx, "/cdrs", q)
	if err != nil {
		return nil, -1, err
	}
	out, total, err := parseCDRs(body)
	if err != nil {
		return nil, -1, fmt.Errorf("GET %s/cdrs: %w", c.base, err)
	}
	return out, total, nil
}

// parseCDRs decodes one page of /cdrs; total is -1 when it has no count.
func parseCDRs(body []byte) ([]CDR, int, error) {
	raws, total, err := findList(body, 0)
	if err != nil {
		return nil, -1, err
	}
	out := make([]CDR, 0, len(raws))
	for _, r := range raws {
		m, err := lowerKeys(bytes.TrimSpace(r))
		if err != nil {
			continue
		}
		cdr := CDR{
			ID: scalarString(m["id"]), CallID: scalarString(m["call_id"]), Caller: scalarString(m["caller"]),
			Callee: scalarString(m["callee"]), CalleeDomain: scalarString(m["callee_domain"]),
			CallerDomain: scalarString(m["caller_domain"]), Destination: scalarString(m["destination"]),
			Trunk: scalarString(m["trunk"]), Direction: scalarString(m["direction"]),
			EndReason: scalarString(m["end_reason"]), StatusCode: max(intField(m, "status_code"), 0),
		}
		cdr.StartedAt, _ = ParseTime(m["started_at"])
		cdr.EndedAt, _ = ParseTime(m["ended_at"])
		out = append(out, cdr)
	}
	return out, total, nil
}

// eachItem reads every page of a documented list ({"count","items"}) with
// the client's page size (at most 100, the documented maximum) and page cap.
func (c *Client) eachItem(ctx context.Context, path string, fn func(map[string]json.RawMessage)) error {
	size := min(c.pageSize, 100)
	for page := 0; page < c.maxPages; page++ {
		skip := page * size
		q := url.Values{"top": {strconv.Itoa(size)}, "skip": {strconv.Itoa(skip)}}
		body, err := c.getJSON(ctx, path, q)
		if err != nil {
			return err
		}
		raws, total, err := findList(body, 0)
		if err != nil {
			return fmt.Errorf("GET %s%s: %w", c.base, path, err)
		}
		for _, r := range raws {
			if m, err := lowerKeys(bytes.TrimSpace(r)); err == nil {
				fn(m)
			}
		}
		switch {
		case len(raws) == 0, len(raws) > size:
			return nil
		case total >= 0 && skip+len(raws) >= total:
			return nil
		case total < 0 && len(raws) < size:
			return nil
		}
	}
	c.log.Warn("PBX API list truncated", "path", path, "pages", c.maxPages)
	return nil
}

// getObject GETs path and decodes a JSON object with lower-cased keys.
func (c *Client) getObject(ctx context.Context, path string) (map[string]json.RawMessage, error) {
	body, err := c.getJSON(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	m, err := lowerKeys(unwrapData(body))
	if err != nil {
		return nil, fmt.Errorf("GET %s%s: decode the answer: %w", c.base, path, err)
	}
	return m, nil
}

// unwrapData returns the object under "data" when the answer wraps it so.
func unwrapData(body []byte) []byte {
	var w struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &w) == nil {
		if t := bytes.TrimSpace(w.Data); len(t) > 0 && t[0] == '{' {
			return t
		}
	}
	return body
}

// intField reads an integer (number or numeric string); -1 when absent.
func intField(m map[string]json.RawMessage, k string) int {
	s := scalarString(m[k])
	if s == "" {
		return -1
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < -1 || f > 1<<31 {
		return -1
	}
	return int(f)
}

// boolField reads a boolean; def when absent.
func boolField(m map[string]json.RawMessage, k string, def bool) bool {
	switch scalarString(m[k]) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}
