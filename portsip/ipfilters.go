package portsip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// Targets of an IP filter entry.
const (
	TargetAccept = "ACCEPT"
	TargetDeny   = "DENY"
)

// IPFilter is one entry of the PBX's IP blacklist/whitelist
// (GET /api/ip_filters).
type IPFilter struct {
	ID string `json:"id,omitempty"`
	// CIDR is the address or range as the PBX spells it.
	CIDR string `json:"cidr"`
	// Target is ACCEPT or DENY, upper-cased.
	Target string `json:"target"`
	// ExpireAt is when the entry lapses; zero means never or unknown.
	ExpireAt time.Time `json:"expire_at,omitzero"`
	// ExpireRaw keeps an expire_at value that could not be read as a time.
	ExpireRaw   string `json:"expire_raw,omitempty"`
	Description string `json:"description,omitempty"`
}

// Denies reports whether the entry blocks its addresses.
func (f IPFilter) Denies() bool { return f.Target == TargetDeny }

// Active reports whether the entry is in force at now: it has no expiry or
// expires after now.
func (f IPFilter) Active(now time.Time) bool { return f.ExpireAt.IsZero() || f.ExpireAt.After(now) }

// Prefix returns the entry's address range; ok is false when CIDR is neither
// an address nor a CIDR range.
func (f IPFilter) Prefix() (p netip.Prefix, ok bool) {
	p, err := config.ParseNetwork(f.CIDR)
	return p, err == nil
}

// IPFilters reads the IP blacklist/whitelist, logging in as needed.
//
// The envelope of GET /ip_filters is not documented, so the answer may be a
// JSON array of entries, or an object holding the array under "items",
// "data", "value", "ip_filters", "list", "records", "results" or "rows"
// (also one level down, as in {"data": {"items": [...]}}), optionally with a
// total under "count", "total", "total_count", "totalCount" or
// "@odata.count". Pages are requested with top and skip; more pages are read
// while the total says so or, without a total, while pages come back full,
// up to the client's page cap. Entries are matched by field name
// case-insensitively (cidr/ip/ip_address/address, target/action,
// expire_at/expires_at/expired_at/expire_time/expiry, description/desc/remark);
// expire_at may be RFC 3339, "YYYY-MM-DD hh:mm:ss" (taken as UTC) or epoch
// seconds or milliseconds, as a number or a string.
func (c *Client) IPFilters(ctx context.Context) ([]IPFilter, error) {
	var (
		out  []IPFilter
		seen = map[string]bool{}
	)
	for page := 0; page < c.maxPages; page++ {
		skip := page * c.pageSize
		q := url.Values{"top": {strconv.Itoa(c.pageSize)}, "skip": {strconv.Itoa(skip)}}
		body, err := c.getJSON(ctx, "/ip_filters", q)
		if err != nil {
			return nil, err
		}
		entries, total, err := parseFilterPage(body)
		if err != nil {
			return nil, fmt.Errorf("GET %s/ip_filters: %w", c.base, err)
		}
		added := 0
		for _, e := range entries {
			k := e.key()
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, e)
			added++
		}
		switch {
		case len(entries) == 0 || added == 0:
			return out, nil // empty page, or the server ignores skip
		case len(entries) > c.pageSize:
			return out, nil // the server ignores top: it sent everything
		case total >= 0 && skip+len(entries) >= total:
			return out, nil
		case total < 0 && len(entries) < c.pageSize:
			return out, nil
		}
	}
	c.log.Warn("PBX IP filter list truncated", "pages", c.maxPages, "entries", len(out))
	return out, nil
}

// key identifies an entry for de-duplication across pages.
func (f IPFilter) key() string {
	if f.ID != "" {
		return "id:" + f.ID
	}
	return f.Target + "|" + f.CIDR + "|" + f.ExpireAt.String() + "|" + f.ExpireRaw
}

// getJSON GETs path with a bearer token, paced by the client's limiter; on
// a 401 it renews the token once and retries, on a 429 it waits as the
// gateway says (Retry-After, else a doubling backoff) a few times. A 404
// wraps ErrNotSupported: this PBX version lacks the endpoint.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	renewed, limited := false, 0
	for {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.pace.Wait(ctx); err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		c.requests.Add(1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("build request for %s: %w", u, err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("GET %s: %w", u, ctx.Err())
			}
			return nil, fmt.Errorf("GET %s: %s", u, c.redact(transportError(err)))
		}
		body, readErr := readBody(resp.Body, maxPageBody)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && !renewed:
			c.log.Debug("PBX API refused the token; renewing it", "url", u)
			c.invalidate(tok)
			renewed = true
			continue
		case resp.StatusCode == http.StatusTooManyRequests && limited < maxRateLimited:
			limited++
			wait := retryAfter(resp.Header.Get("Retry-After"), limited)
			c.log.Warn("PBX API rate limit reached; waiting", "url", u, "wait", wait)
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, fmt.Errorf("GET %s: %w", u, err)
			}
			continue
		case resp.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("GET %s: HTTP 404: %w", u, ErrNotSupported)
		case resp.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("GET %s: HTTP 403 %s: %w", u, c.redact(snippet(body)), ErrForbidden)
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			return nil, fmt.Errorf("GET %s: HTTP %d %s: %s", u, resp.StatusCode, http.StatusText(resp.StatusCode), c.redact(snippet(body)))
		case readErr != nil:
			return nil, fmt.Errorf("GET %s: %s", u, c.redact(transportError(readErr)))
		}
		return body, nil
	}
}

// maxRateLimited is how many 429 answers one request waits out.
const maxRateLimited = 4

// retryAfter is the wait a 429 asks for: Retry-After in seconds or as an
// HTTP date, else 1 s doubled per attempt; never more than a minute.
func retryAfter(h string, attempt int) time.Duration {
	d := time.Second << min(attempt-1, 5)
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if at, err := http.ParseTime(h); err == nil {
		d = time.Until(at)
	}
	return min(max(d, 100*time.Millisecond), time.Minute)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// parseFilterPage decodes one page; total is -1 when the page does not say.
func parseFilterPage(body []byte) (entries []IPFilter, total int, err error) {
	raws, total, err := findList(body, 0)
	if err != nil {
		return nil, -1, err
	}
	for _, r := range raws {
		if e, ok := parseFilter(r); ok {
			entries = append(entries, e)
		}
	}
	return entries, total, nil
}

// findList locates the array of entries in body.
func findList(body []byte, depth int) ([]json.RawMessage, int, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, -1, errors.New("empty answer")
	}
	switch b[0] {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, -1, fmt.Errorf("decode the list: %w", err)
		}
		return list, -1, nil
	case '{':
	default:
		return nil, -1, fmt.Errorf("answer is not JSON: %q", snippet(b))
	}
	obj, err := lowerKeys(b)
	if err != nil {
		return nil, -1, fmt.Errorf("decode the answer: %w", err)
	}
	total := envelopeTotal(obj)
	if list, n, found, err := listIn(obj, total, depth); found {
		return list, n, err
	}
	if len(obj) == 0 {
		return nil, total, nil
	}
	return nil, -1, noListError(obj)
}

// countKeys and listKeys are the names, lowercased, under which paging
// envelopes put the total and the list, in the order they are tried.
var (
	countKeys = []string{"count", "total", "total_count", "totalcount", "@odata.count"}
	listKeys  = []string{"items", "data", "value", "ip_filters", "list", "records", "results", "rows"}
)

// envelopeTotal is the total count an envelope states, or -1.
func envelopeTotal(obj map[string]json.RawMessage) int {
	for _, k := range countKeys {
		if n, ok := parseCount(obj[k]); ok {
			return n
		}
	}
	return -1
}

// listIn finds the list in an envelope: under a list key, or one envelope
// deeper while depth is 0. found is false when there is none.
func listIn(obj map[string]json.RawMessage, total, depth int) (list []json.RawMessage, n int, found bool, err error) {
	for _, k := range listKeys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		t := bytes.TrimSpace(v)
		switch {
		case len(t) > 0 && t[0] == '[':
			if err := json.Unmarshal(t, &list); err != nil {
				return nil, -1, true, fmt.Errorf("decode %q: %w", k, err)
			}
			return list, total, true, nil
		case string(t) == "null":
			return nil, total, true, nil
		case len(t) > 0 && t[0] == '{' && depth == 0:
			list, inner, err := findList(t, depth+1)
			if err != nil {
				continue
			}
			if inner < 0 {
				inner = total
			}
			return list, inner, true, nil
		}
	}
	return nil, 0, false, nil
}

// noListError names the keys of an answer that holds no list.
func noListError(obj map[string]json.RawMessage) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 10 {
		keys = append(keys[:10], "...")
	}
	return fmt.Errorf("no list of IP filters in the answer (keys: %s)", strings.Join(keys, ", "))
}

// parseCount reads a non-negative count, a number or a numeric string.
func parseCount(raw json.RawMessage) (int, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

// lowerKeys decodes a JSON object with its keys lower-cased (the first of
// keys differing only in case wins).
func lowerKeys(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]json.RawMessage, len(m))
	for _, k := range keys {
		lk := strings.ToLower(k)
		if _, dup := out[lk]; !dup {
			out[lk] = m[k]
		}
	}
	return out, nil
}

// parseFilter decodes one entry; ok is false for anything but an object.
func parseFilter(raw json.RawMessage) (IPFilter, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return IPFilter{}, false
	}
	m, err := lowerKeys(t)
	if err != nil {
		return IPFilter{}, false
	}
	field := func(names ...string) json.RawMessage {
		for _, n := range names {
			if v, ok := m[n]; ok && string(bytes.TrimSpace(v)) != "null" {
				return v
			}
		}
		return nil
	}
	f := IPFilter{
		ID:          scalarString(field("id", "_id", "filter_id")),
		CIDR:        strings.TrimSpace(scalarString(field("cidr", "ip", "ip_address", "address", "ip_range"))),
		Target:      strings.ToUpper(strings.TrimSpace(scalarString(field("target", "action", "rule")))),
		Description: scalarString(field("description", "desc", "remark", "note")),
	}
	if raw := field("expire_at", "expires_at", "expired_at", "expire_time", "expiry", "expiration"); raw != nil {
		at, err := ParseTime(raw)
		if err != nil {
			f.ExpireRaw = snippet([]byte(scalarString(raw)))
		} else {
			f.ExpireAt = at
		}
	}
	return f, true
}

// scalarString renders a JSON string, number or boolean as text; other
// values give "".
func scalarString(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return ""
	}
	switch t[0] {
	case '"':
		var s string
		if json.Unmarshal(t, &s) != nil {
			return ""
		}
		return s
	case '{', '[', 'n':
		return ""
	default:
		var n json.Number
		if json.Unmarshal(t, &n) == nil {
			return n.String()
		}
		var b bool
		if json.Unmarshal(t, &b) == nil {
			return strconv.FormatBool(b)
		}
		return ""
	}
}

// maxEpochSeconds is the start of year 10000, beyond which times do not
// format.
const maxEpochSeconds = 253402300800

// ParseTime reads a time the PBX API may send: JSON null, "" or 0 (no time:
// zero value), an RFC 3339 string, "YYYY-MM-DD hh:mm:ss" (taken as UTC), or
// Unix epoch seconds, milliseconds or microseconds as a number or a numeric
// string.
func ParseTime(raw json.RawMessage) (time.Time, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return time.Time{}, nil
	}
	var s string
	if t[0] == '"' {
		if err := json.Unmarshal(t, &s); err != nil {
			return time.Time{}, fmt.Errorf("time %s: %w", snippet(t), err)
		}
		s = strings.TrimSpace(s)
	} else {
		s = string(t)
	}
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return epoch(f)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", "2006/01/02 15:04:05", time.DateOnly} {
		if at, err := time.Parse(layout, s); err == nil {
			return at, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: not RFC 3339 nor an epoch number", snippet([]byte(s)))
}

// epoch converts a Unix time in seconds, milliseconds or microseconds.
func epoch(f float64) (time.Time, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, fmt.Errorf("epoch time %v out of range", f)
	}
	if f == 0 {
		return time.Time{}, nil
	}
	switch {
	case f >= 1e14:
		f /= 1e6
	case f >= 1e11:
		f /= 1e3
	}
	if f >= maxEpochSeconds {
		return time.Time{}, fmt.Errorf("epoch time %v out of range", f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
