package decode

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// maxStartLine is how far looksLikeSIP looks for the end of the first line.
const maxStartLine = 8 << 10

var sipVersion = []byte("SIP/2.0")

// looksLikeSIP reports whether b starts with a SIP request or status line:
// "METHOD URI SIP/2.0" or "SIP/2.0 NNN ...". The line ends at a line feed
// or at the end of b.
func looksLikeSIP(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	if b[0] == 'S' && bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return isDigit(b[8]) && isDigit(b[9]) && isDigit(b[10]) && (len(b) == 11 || b[11] == ' ' || b[11] == '\r' || b[11] == '\n')
	}
	// Method: upper-case token.
	i := 0
	for i < len(b) && i < 32 && (b[i] >= 'A' && b[i] <= 'Z' || b[i] == '-' || b[i] == '_') {
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ' ' {
		return false
	}
	line := b
	if len(line) > maxStartLine {
		line = line[:maxStartLine]
	}
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	} else if len(b) > maxStartLine {
		return false
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < i+2+len(sipVersion) || line[len(line)-len(sipVersion)-1] != ' ' {
		return false
	}
	if !bytes.EqualFold(line[len(line)-len(sipVersion):], sipVersion) {
		return false
	}
	uri := line[i+1 : len(line)-len(sipVersion)-1]
	return len(uri) > 0 && bytes.IndexByte(uri, ' ') < 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Errors of ParseSIP.
var (
	errStartLine = errors.New("decode: not a SIP start line")
	errHeader    = errors.New("decode: malformed SIP header")
)

// maxHeaders bounds the header lines ParseSIP keeps.
const maxHeaders = 512

// ParseSIP parses one SIP message (RFC 3261): the start line, the headers
// (folded lines joined, compact forms expanded, names canonicalised) and
// the body, cut to Content-Length when present. The SDP of an
// application/sdp body, or of the application/sdp part of a multipart
// body, is parsed into SDP; an SDP that does not parse leaves SDP nil. The
// message does not refer to b.
func ParseSIP(b []byte) (*SIPMessage, error) {
	s := string(b) // one copy: every string of the message points into it
	hdr, body := s, ""
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		hdr, body = s[:i], s[i+4:]
	}
	if i := strings.Index(hdr, "\n\n"); i >= 0 {
		hdr, body = s[:i], s[i+2:]
	}
	line, rest := cutLine(hdr)
	m := &SIPMessage{Text: s}
	if err := m.parseStartLine(line); err != nil {
		return nil, err
	}
	if err := m.parseHeaders(rest); err != nil {
		return nil, err
	}
	m.readHeaders()
	m.parseBody(body)
	return m, nil
}

// parseStartLine reads a status line or a request line.
func (m *SIPMessage) parseStartLine(line string) error {
	if strings.HasPrefix(line, "SIP/2.0 ") || strings.HasPrefix(line, "sip/2.0 ") {
		code, reason, _ := strings.Cut(line[8:], " ")
		n, err := strconv.Atoi(code)
		if err != nil || len(code) != 3 || n < 100 || n > 699 {
			return errStartLine
		}
		m.Status, m.Reason = n, strings.TrimSpace(reason)
		return nil
	}
	method, r, ok := strings.Cut(line, " ")
	uri, ver, ok2 := strings.Cut(r, " ")
	if !ok || !ok2 || !strings.EqualFold(ver, "SIP/2.0") || !isToken(method) || uri == "" {
		return errStartLine
	}
	m.Method, m.RequestURI = method, uri
	return nil
}

// parseHeaders reads the header lines into m.Headers by canonical name,
// folding continuation lines and skipping lines that are not headers.
func (m *SIPMessage) parseHeaders(rest string) error {
	m.Headers = make(map[string][]string, 16)
	var line, name, value string
	n := 0
	for rest != "" {
		line, rest = cutLine(rest)
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				value = strings.TrimSpace(value + " " + strings.TrimSpace(line))
			}
			continue
		}
		if name != "" {
			m.Headers[name] = append(m.Headers[name], value)
		}
		name = ""
		c := strings.IndexByte(line, ':')
		if c <= 0 {
			continue // not a header: skipped
		}
		if n++; n > maxHeaders {
			return errHeader
		}
		name = canonicalHeader(strings.TrimRight(line[:c], " \t"))
		value = strings.TrimSpace(line[c+1:])
	}
	if name != "" {
		m.Headers[name] = append(m.Headers[name], value)
	}
	return nil
}

// readHeaders fills the fields the analysis uses from the headers.
func (m *SIPMessage) readHeaders() {
	m.CallID = m.Header("Call-ID")
	m.From = m.Header("From")
	m.To = m.Header("To")
	m.FromTag = param(nameAddrParams(m.From), "tag")
	m.ToTag = param(nameAddrParams(m.To), "tag")
	if cs := m.Header("CSeq"); cs != "" {
		num, method, _ := strings.Cut(cs, " ")
		if v, err := strconv.ParseUint(num, 10, 32); err == nil {
			m.CSeqNum = uint32(v)
		}
		m.CSeqMethod = strings.TrimSpace(method)
	}
	for _, v := range m.Headers["Via"] {
		m.Via = append(m.Via, splitList(v)...)
	}
	m.UserAgent = m.Header("User-Agent")
	if m.UserAgent == "" {
		m.UserAgent = m.Header("Server")
	}
	if c := m.Header("Contact"); c != "" {
		if l := splitList(c); len(l) > 0 {
			m.Contact = l[0]
		}
	}
}

// parseBody keeps the body, cut at Content-Length, and reads its SDP
// (directly or in a multipart body).
func (m *SIPMessage) parseBody(body string) {
	if cl := m.Header("Content-Length"); cl != "" {
		if v, err := strconv.Atoi(cl); err == nil && v >= 0 && v < len(body) {
			body = body[:v]
		}
	}
	ct := m.Header("Content-Type")
	mt, ctParams, _ := strings.Cut(ct, ";")
	m.ContentType = strings.ToLower(strings.TrimSpace(mt))
	if body != "" {
		m.Body = []byte(body)
		switch {
		case m.ContentType == "application/sdp":
			m.SDP, _ = parseSDP(body)
		case strings.HasPrefix(m.ContentType, "multipart/"):
			m.SDP = multipartSDP(body, param(ctParams, "boundary"))
		}
	}
}

// cutLine splits off the first line of s, without its CR LF.
func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

// isToken reports whether s is a SIP method token.
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// nameAddrParams returns the header parameters of a From/To/Contact value:
// what follows the addr-spec (after '>' for a name-addr).
func nameAddrParams(v string) string {
	inQuote := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			inQuote = !inQuote
		case '\\':
			i++
		case '<':
			if !inQuote {
				if j := strings.IndexByte(v[i:], '>'); j >= 0 {
					return v[i+j+1:]
				}
				return ""
			}
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[i:]
	}
	return ""
}

// param returns the value of parameter name in a ";a=b;c=d" list
// (case-insensitive name, quotes removed).
func param(params, name string) string {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			v = strings.TrimSpace(v)
			if i := strings.IndexAny(v, ", \t"); i >= 0 && !strings.HasPrefix(v, `"`) {
				v = v[:i]
			}
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// splitList splits a comma-separated header value, keeping commas inside
// quotes and angle brackets.
func splitList(v string) []string {
	var out []string
	inQuote, inAngle, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == '<' && !inQuote:
			inAngle = true
		case c == '>' && !inQuote:
			inAngle = false
		case c == ',' && !inQuote && !inAngle:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[min(start, len(v)):]); s != "" {
		out = append(out, s)
	}
	return out
}

// multipartSDP returns the parsed application/sdp part of a multipart body.
func multipartSDP(body, boundary string) *SDPBody {
	if boundary == "" {
		return nil
	}
	delim := "--" + boundary
	parts := strings.Split(body, delim)
	if len(parts) > 64 {
		parts = parts[:64]
	}
	for _, part := range parts[1:] {
		if strings.HasPrefix(part, "--") {
			break // closing delimiter
		}
		part = strings.TrimPrefix(strings.TrimPrefix(part, "\r\n"), "\n")
		h, content := part, ""
		if i := strings.Index(part, "\r\n\r\n"); i >= 0 {
			h, content = part[:i], part[i+4:]
		} else if i := strings.Index(part, "\n\n"); i >= 0 {
			h, content = part[:i], part[i+2:]
		}
		for h != "" {
			var line string
			line, h = cutLine(h)
			k, v, ok := strings.Cut(line, ":")
			if !ok || canonicalHeader(strings.TrimSpace(k)) != "Content-Type" {
				continue
			}
			mt, _, _ := strings.Cut(v, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "application/sdp") {
				if sdp, err := parseSDP(strings.TrimSuffix(content, "\r\n")); err == nil {
					return sdp
				}
			}
		}
	}
	return nil
}

// compactForms maps RFC 3261 (and later) compact header names to the full
// ones.
var compactForms = map[byte]string{
	'a': "Accept-Contact", 'b': "Referred-By", 'c': "Content-Type",
	'd': "Request-Disposition", 'e': "Content-Encoding", 'f': "From",
	'i': "Call-ID", 'j': "Reject-Contact", 'k': "Supported",
	'l': "Content-Length", 'm': "Contact", 'n': "Identity-Info",
	'o': "Event", 'r': "Refer-To", 's': "Subject", 't': "To",
	'u': "Allow-Events", 'v': "Via", 'x': "Session-Expires", 'y': "Identity",
}

// knownHeaders are header names whose canonical spelling is not plain
// title case, or that are frequent enough to be worth a table lookup.
var knownHeaders = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language",
		"Alert-Info", "Allow", "Allow-Events", "Authentication-Info",
		"Authorization", "Call-ID", "Call-Info", "Contact",
		"Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Type", "CSeq", "Date", "Error-Info",
		"Event", "Expires", "From", "Identity", "Identity-Info",
		"In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires",
		"Min-SE", "Organization", "P-Asserted-Identity",
		"P-Preferred-Identity", "P-Charging-Vector",
		"P-Access-Network-Info", "P-Called-Party-ID", "Path", "Priority",
		"Privacy", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To",
		"Referred-By", "Reject-Contact", "Remote-Party-ID", "Replaces",
		"Reply-To", "Request-Disposition", "Require", "Retry-After", "Route",
		"RSeq", "Security-Client", "Security-Server", "Security-Verify",
		"Server", "Service-Route", "Session-Expires", "SIP-ETag",
		"SIP-If-Match", "Subject", "Subscription-State", "Supported",
		"Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning",
		"WWW-Authenticate",
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// canonicalHeader returns the canonical spelling of a header name:
// compact forms expanded, known names as the RFCs spell them, others in
// title case ("x-my-header" → "X-My-Header").
func canonicalHeader(n string) string {
	if len(n) == 1 {
		c := n[0] | 0x20
		if full, ok := compactForms[c]; ok {
			return full
		}
	}
	var buf [64]byte
	if len(n) <= len(buf) {
		for i := 0; i < len(n); i++ {
			c := n[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		if v, ok := knownHeaders[string(buf[:len(n)])]; ok {
			return v
		}
	}
	title := true
	canon := true
	for i := 0; i < len(n); i++ {
		c := n[i]
		if title && c >= 'a' && c <= 'z' || !title && c >= 'A' && c <= 'Z' {
			canon = false
			break
		}
		title = c == '-'
	}
	if canon {
		return n
	}
	b := []byte(n)
	title = true
	for i, c := range b {
		switch {
		case title && c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !title && c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		title = c == '-'
	}
	return string(b)
}
