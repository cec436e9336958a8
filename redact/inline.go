package redact

import (
	"regexp"
	"strings"
)

// quoted matches a quoted value, also one whose closing quote is missing
// (the value goes on over the next lines).
const quoted = `"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?`

// inlinePatterns are applied anywhere on a line; need is a substring the
// line must hold for the pattern to match at all.
var inlinePatterns = []struct {
	need string
	sep  sepMask // what must follow (or start) a secret name on the line
	re   *regexp.Regexp
}{
	// --name=value, --name value
	{"--", sepDash, regexp.MustCompile(`(?:^|[\s"'(=])--([A-Za-z][A-Za-z0-9_.\-]*)()(?:=(` + quoted + `|[^\s"']*)|[ \t]+(` + quoted + `|[^\s"'\-][^\s"']*))`)},
	// "--name", "value" as items of a JSON or YAML flow list (compose
	// command: ["--db-password", "x"])
	{"-", sepDash, regexp.MustCompile(`["']--?([A-Za-z][A-Za-z0-9_.\-]*)["'][ \t]*,[ \t]*()(` + quoted + `|[^\s,\]"']+)`)},
	// URL query: ?name=value&name=value
	{"=", sepEq, regexp.MustCompile(`[?&;]([A-Za-z0-9_.\-]+)=()([^&#\s"'<>]*)`)},
	// name=value: env prefixes, logfmt, XML attributes
	{"=", sepEq, regexp.MustCompile(`(?:^|[^A-Za-z0-9_.\-?&;])([A-Za-z_][A-Za-z0-9_.\-]*)=()(` + quoted + `|[^\s"'&;,<>]*)`)},
	// "name": value (JSON)
	{":", sepColon, regexp.MustCompile(`["']([^"'\s:]+)["']\s*:\s*()(` + quoted + `|\[[^\]]*\]?|[^\s,}\]"'\[{]+)`)},
	// name: value (YAML flow mappings, headers, logs), also Go's %+v and
	// map formatting: {Password:x}, map[Authorization:[Bearer x]]
	{":", sepColon, regexp.MustCompile(`(?:^|[\s{,("'=\[>;])([A-Za-z_][A-Za-z0-9_.\-]*):[ \t]*(?:[!&][^\s]*[ \t]+)*((?i:bearer|basic|negotiate|ntlm|token)[ \t]+)?(` + quoted + `|\[[^\]]*\]?|[^\s"',}\]\[{!&<][^\s"',}\]\[{<]*)`)},
}

// inline applies one inline pattern: group 1 is the name, group 2 an
// optional kept prefix of the value (an HTTP auth scheme), group 3 (or 4
// for "--name value") the value.
//
// The pattern is only tried at the secret names of the line, so
// "api: Authorization: Bearer x" finds the header even though a search
// from the start would take it as the value of "api".
//
// A quoted value still open at the end of the line (a YAML flow scalar
// that goes on) continues on the next lines while they are indented more
// than this one, so a stray quote in a log line does not swallow the log.
func (r *Redactor) inline(l string, re *regexp.Regexp, st *state) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	_, starts := r.secretNames(l)
	for _, at := range starts {
		// A name that starts inside a value already replaced is part of
		// it; one that starts after it is tried even when its context
		// character closed that value (`"token":"a"token":b`), as a
		// second pass, which finds the marker kept, would try it too.
		if at < last {
			continue
		}
		name, vs, ve, ok := r.inlineAt(l, re, at)
		if !ok {
			continue
		}
		nv, k := r.inlineValue(name, l[vs:ve])
		if ve == len(l) && st.mode == modeNone && openQuote(l[vs:ve]) {
			st.mode, st.quote, st.bounded, st.indent = modeQuote, l[vs], true, indentOf(l)
			st.counted = k > 0
		}
		if k == 0 {
			continue
		}
		b.WriteString(l[last:vs])
		b.WriteString(nv)
		last, n = ve, n+k
	}
	if n == 0 {
		return l, 0
	}
	b.WriteString(l[last:])
	return b.String(), n
}

// inlineAt tries re where the secret name at column at starts (its context
// character just before, "--" or a quote included) and returns the name
// and the bounds of its value: group 3, or 4 for "--name value", widened
// to group 2 (a scheme word) unless the name is an auth key, which keeps
// its scheme.
func (r *Redactor) inlineAt(l string, re *regexp.Regexp, at int) (name string, vs, ve int, ok bool) {
	from := max(at-1, 0)
	m := re.FindStringSubmatchIndex(l[from:])
	if m == nil {
		return "", 0, 0, false
	}
	for i := range m {
		if m[i] >= 0 {
			m[i] += from
		}
	}
	if m[2] < at || m[2] > at+2 {
		return "", 0, 0, false
	}
	name = l[m[2]:m[3]]
	vs, ve = m[6], m[7]
	if vs < 0 && len(m) > 8 {
		vs, ve = m[8], m[9]
	}
	if vs < 0 || !r.isSecret(name) {
		return "", 0, 0, false
	}
	if m[4] >= 0 && m[5] > m[4] && !authName(name) {
		vs = m[4] // a scheme word is only kept for auth headers
	}
	return name, vs, ve, true
}

// openQuote reports whether v starts with a quote it does not close.
func openQuote(v string) bool {
	return v != "" && (v[0] == '"' || v[0] == '\'') &&
		(len(v) == 1 || closingQuote(v[1:], v[0]) != len(v)-2)
}

// inlineValue redacts a value found by an inline pattern, which may be
// quoted (possibly without its closing quote) or a [list].
func (r *Redactor) inlineValue(name, v string) (string, int) {
	if v == "" {
		return v, 0
	}
	switch q := v[0]; q {
	case '[':
		inner, closeB := v[1:], ""
		if strings.HasSuffix(inner, "]") {
			inner, closeB = inner[:len(inner)-1], "]"
		}
		out, n := r.redactList(name, inner)
		return "[" + out + closeB, n
	case '"', '\'':
		inner, closeQ := v[1:], ""
		if len(v) >= 2 && v[len(v)-1] == q && closingQuote(inner, q) == len(inner)-1 {
			inner, closeQ = inner[:len(inner)-1], v[len(v)-1:]
		}
		nv, changed := r.redactValue(name, inner)
		if !changed {
			return v, 0
		}
		return v[:1] + nv + closeQ, 1
	}
	nv, changed := r.redactValue(name, v)
	if !changed {
		return v, 0
	}
	return nv, 1
}

// redactList redacts each element of a comma-separated list (the inside
// of [ ]), quoted or not.
func (r *Redactor) redactList(name, s string) (string, int) {
	var b strings.Builder
	n := 0
	for s != "" {
		i := 0
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		b.WriteString(s[:i])
		s = s[i:]
		if s == "" {
			break
		}
		var el string
		if q := s[0]; q == '"' || q == '\'' {
			if j := closingQuote(s[1:], q); j >= 0 {
				el = s[:j+2]
			} else {
				el = s
			}
		} else {
			j := strings.IndexByte(s, ',')
			if j < 0 {
				j = len(s)
			}
			el = strings.TrimRight(s[:j], " \t")
		}
		s = s[len(el):]
		nv, k := r.inlineValue(name, el)
		b.WriteString(nv)
		n += k
		j := strings.IndexByte(s, ',')
		if j < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:j+1])
		s = s[j+1:]
	}
	return b.String(), n
}

// xmlElement matches <name>value</name>; the names are compared in code.
var xmlElement = regexp.MustCompile(`<([A-Za-z_][A-Za-z0-9_.\-:]*)>([^<]*)</([A-Za-z_][A-Za-z0-9_.\-:]*)>`)

// xml redacts <name>value</name> elements with a secret name.
func (r *Redactor) xml(l string) (string, int) {
	ms := xmlElement.FindAllStringSubmatchIndex(l, -1)
	var b strings.Builder
	last, n := 0, 0
	for _, m := range ms {
		name := l[m[2]:m[3]]
		if name != l[m[6]:m[7]] || !r.isSecret(name) {
			continue
		}
		nv, changed := r.redactValue(name, l[m[4]:m[5]])
		if !changed {
			continue
		}
		b.WriteString(l[last:m[4]])
		b.WriteString(nv)
		last, n = m[5], n+1
	}
	if n == 0 {
		return l, 0
	}
	b.WriteString(l[last:])
	return b.String(), n
}
