package redact

import (
	"regexp"
	"strings"
)

// Marker replaces every redacted value. It is a bare word rather than
// "[REDACTED]" on purpose: in YAML brackets would turn the value into a
// list, in a URL they are not allowed in the user information, and in INI a
// line starting with '[' is a section header.
const Marker = "REDACTED"

// Redactor removes secret values from text and command lines. It holds no
// mutable state, so one Redactor may be shared by many goroutines. The zero
// value applies the built-in rule of IsSecretKey only.
type Redactor struct {
	extra []string  // normalised extra key words
	vals  *valueSet // secret values matched anywhere; see WithValues
}

// New returns a Redactor that treats the built-in secret key names (see
// IsSecretKey) and the given extra key words as secret. An extra word
// matches a word part of a key name, or several consecutive parts joined,
// ignoring case and separators: "pin" matches "voicemail_pin" but not
// "pinned", and "license_key" matches "PBX_LICENSE_KEY". Extra words obey
// the same exceptions as the built-in ones ("pin_file" is not secret).
func New(extraKeys ...string) *Redactor {
	r := &Redactor{}
	for _, k := range extraKeys {
		if w := normalizeWord(k); w != "" {
			r.extra = append(r.extra, w)
		}
	}
	return r
}

// isSecret reports whether name is secret for r.
func (r *Redactor) isSecret(name string) bool {
	var extra []string
	if r != nil {
		extra = r.extra
	}
	return secretParts(splitKey(name), extra)
}

// Bytes returns a redacted copy of data, which is treated as text and
// processed line by line in a single pass whatever its format (INI, shell,
// env, YAML, JSON, logs). count is the number of values redacted. The
// output has exactly as many lines as the input; data is not modified.
func (r *Redactor) Bytes(data []byte) (out []byte, count int) {
	s, count := r.String(string(data))
	return []byte(s), count
}

// String is Bytes for a string.
func (r *Redactor) String(s string) (string, int) {
	lines := strings.Split(s, "\n")
	var st state
	total := 0
	for i, l := range lines {
		var n int
		lines[i], n = r.line(l, &st)
		total += n
	}
	return strings.Join(lines, "\n"), total
}

// line redacts one line (without its '\n') in state st.
func (r *Redactor) line(l string, st *state) (string, int) {
	cr := strings.HasSuffix(l, "\r")
	if cr {
		l = l[:len(l)-1]
	}
	l, k := r.values(l)
	out, n := r.process(l, st)
	n += k
	if cr {
		out += "\r"
	}
	return out, n
}

// values replaces the known secret values on a line.
func (r *Redactor) values(l string) (string, int) {
	if r == nil || r.vals == nil {
		return l, 0
	}
	return r.vals.scan(l)
}

// redactValue returns the redacted form of the value of secret key name
// and whether it differs from val. Values with nothing to hide stay; so
// does a file path held by a key named "...key" ("secret_key:
// /etc/portsip/key.pem"). For auth keys the scheme word of an HTTP
// credential stays ("Bearer REDACTED").
func (r *Redactor) redactValue(name, val string) (string, bool) {
	if !needsRedaction(val) {
		return val, false
	}
	if strings.HasSuffix(strings.ToLower(name), "key") && looksLikePath(val) {
		return val, false
	}
	if authName(name) {
		if m := authScheme.FindStringIndex(val); m != nil {
			if !needsRedaction(val[m[1]:]) {
				return val, false
			}
			return val[:m[1]] + Marker, true
		}
	}
	return Marker, true
}

// authName reports whether name is an authorization key, whose value may
// start with an HTTP auth scheme.
func authName(name string) bool {
	return strings.Contains(strings.ToLower(name), "auth")
}

var authScheme = regexp.MustCompile(`^(?i:bearer|basic|digest|negotiate|ntlm|token)[ \t]+`)

// needsRedaction reports whether a secret key's value has something to
// hide: not empty, null, ~, already Marker, only '*' or a YAML block
// indicator. A Marker followed only by a list or statement separator
// (",", ";") is already redacted too: a first pass may leave the separator
// outside the value it replaced, so a second pass must not take it in.
func needsRedaction(v string) bool {
	t := strings.TrimSpace(v)
	switch {
	case t == "", t == Marker, strings.TrimRight(t, ",;") == Marker, t == "~", strings.EqualFold(t, "null"),
		strings.Trim(t, "*") == "", blockIndicator.MatchString(t):
		return false
	}
	return true
}

// pathRoots are directory prefixes that make a value a path even without a
// file extension.
var pathRoots = []string{
	"/etc/", "/opt/", "/var/", "/home/", "/root/", "/run/", "/usr/",
	"/srv/", "/tmp/", "/data/", "~/", "./", "../",
}

// looksLikePath reports whether v is a file path rather than key material:
// it starts like an absolute, home or relative path or a Windows drive,
// has no white space, '+' or '=' (which base64 keys have), and either
// starts at a well-known root or ends in a file extension. Base64 and hex
// keys have no '.', so they never pass.
func looksLikePath(v string) bool {
	drive := len(v) >= 3 && isAlnum(v[0]) && !isDigit(v[0]) && v[1] == ':' && (v[2] == '\\' || v[2] == '/')
	if !drive && !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "~/") && !strings.HasPrefix(v, "./") && !strings.HasPrefix(v, "../") {
		return false
	}
	if strings.ContainsAny(v, " \t+=\"'") {
		return false
	}
	for _, root := range pathRoots {
		if strings.HasPrefix(v, root) {
			return true
		}
	}
	base := v[strings.LastIndexAny(v, `/\`)+1:]
	dot := strings.LastIndexByte(base, '.')
	return dot > 0 && dot < len(base)-1
}
