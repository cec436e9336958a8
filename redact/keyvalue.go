package redact

import (
	"regexp"
	"strings"
)

// lineKV matches a key at the start of a line: optional comment
// characters, YAML list dash, shell "export" and the like, then the key
// (bare or quoted) and its separator.
var lineKV = regexp.MustCompile(`^(\s*(?:[#;]+\s*)?(?:-\s+)?(?:(?:export|readonly|local|typeset|declare(?:\s+-[A-Za-z]+)*|set)\s+)?(?:\$env:)?)` +
	`(?:"([^"\s]+)"|'([^'\s]+)'|([A-Za-z_][A-Za-z0-9_.\-]*))` +
	`(\s*(?:=>|=|:)\s*)`)

// keyLine is a key at the start of a line, as lineKV finds it.
type keyLine struct {
	line       string
	name       string
	keyCol     int    // column of the key, of its opening quote if quoted
	quotedKey  bool   // a quoted (JSON) key: a bare value ends at ',', '}' or ']'
	commented  bool   // a commented-out line ("# key = value")
	colon      bool   // the separator is ':' (YAML, JSON)
	head, rest string // the line up to the value, and the value on
}

// parseKeyLine finds the key at the start of l.
func parseKeyLine(l string) (keyLine, bool) {
	m := lineKV.FindStringSubmatchIndex(l)
	if m == nil {
		return keyLine{}, false
	}
	k := keyLine{line: l, quotedKey: true, head: l[:m[1]], rest: l[m[1]:]}
	switch {
	case m[4] >= 0:
		k.name, k.keyCol = l[m[4]:m[5]], m[4]-1
	case m[6] >= 0:
		k.name, k.keyCol = l[m[6]:m[7]], m[6]-1
	default:
		k.name, k.keyCol, k.quotedKey = l[m[8]:m[9]], m[8], false
	}
	k.commented = strings.ContainsAny(l[m[2]:m[3]], "#;")
	k.colon = strings.Contains(l[m[10]:m[11]], ":")
	if k.colon && !k.quotedKey {
		// YAML tags and anchors before the value ("!!str", "&pw") stay.
		p := yamlProps(k.rest)
		k.head, k.rest = k.head+k.rest[:p], k.rest[p:]
	}
	return k, true
}

// multi reports whether the key's value may go on over the next lines: a
// live (not commented-out) YAML or shell key.
func (k *keyLine) multi() bool { return !k.commented && !k.quotedKey }

// lineKey redacts the value of a key at the start of the line, which runs
// to the end of the line (less quotes and a trailing comment), and opens
// multi-line modes.
func (r *Redactor) lineKey(l string, st *state) (string, int) {
	k, ok := parseKeyLine(l)
	if !ok || !r.isSecret(k.name) {
		return l, 0
	}
	lead, val, trail, open := splitValue(k.rest, k.colon, k.quotedKey)
	if open != 0 {
		// A quoted value that goes on over the next lines.
		n := 0
		if k.multi() {
			st.mode, st.quote, st.counted = modeQuote, open, false
		}
		if needsRedaction(val) {
			val, n = Marker, 1
			st.counted = true
		}
		return k.head + lead + val, n
	}
	if lead == "" {
		if out, n, ok := r.structuredValue(&k, val, trail, st); ok {
			return out, n
		}
	}
	nv, changed := r.redactValue(k.name, val)
	if k.colon && k.multi() && lead == "" && val != "" {
		// A YAML plain scalar continues on more indented lines.
		st.mode, st.indent, st.counted = modeBlock, k.keyCol, changed
	}
	if !changed {
		return l, 0
	}
	return k.head + lead + nv + trail, 1
}

// structuredValue handles an unquoted value that is not a scalar on this
// line: a YAML block indicator or an empty value (the value follows on
// the next lines), a "[" list or a "{" flow mapping. ok is false for a
// plain scalar.
func (r *Redactor) structuredValue(k *keyLine, val, trail string, st *state) (out string, n int, ok bool) {
	block := blockIndicator.MatchString(val)
	switch {
	case k.colon && (block || val == "") && k.commented && !k.quotedKey:
		// A commented-out block or next-line value.
		st.mode, st.indent, st.counted, st.comment = modeBlock, k.keyCol, false, true
	case k.colon && block:
		if !k.commented {
			st.mode, st.indent, st.counted = modeBlock, k.keyCol, false
		}
	case k.colon && val == "":
		if k.multi() {
			st.mode, st.indent, st.name, st.child = modeYAMLList, k.keyCol, k.name, false
		}
	case (k.colon || k.quotedKey) && strings.HasPrefix(val, "["):
		if strings.HasSuffix(val, "]") {
			out, n := r.redactList(k.name, val[1:len(val)-1])
			return k.head + "[" + out + "]" + trail, n, true
		}
		if !k.commented {
			st.mode, st.name = modeBracket, k.name
		}
		out, n := r.redactList(k.name, val[1:])
		return k.head + "[" + out + trail, n, true
	case k.colon && strings.HasPrefix(val, "{"):
		// A flow mapping: the inline patterns see its pairs.
	default:
		return "", 0, false
	}
	return k.line, 0, true
}

// splitValue splits the text after a separator into an opening quote, the
// value and the rest (closing quote, comma, comment). open is the quote
// character when the quoted value does not end on this line. colon says
// the separator was ':' (YAML: only '#' starts a comment); quotedKey says
// the key was quoted (JSON: a bare value ends at ',', '}' or ']').
func splitValue(rest string, colon, quotedKey bool) (lead, val, trail string, open byte) {
	if rest == "" {
		return "", "", "", 0
	}
	if q := rest[0]; q == '"' || q == '\'' {
		j := closingQuote(rest[1:], q)
		if j < 0 {
			return rest[:1], rest[1:], "", q
		}
		j++
		after := strings.TrimLeft(rest[j+1:], " \t")
		if after == "" || strings.ContainsRune("#,}]", rune(after[0])) ||
			(!colon && after[0] == ';') || strings.HasPrefix(after, "//") {
			return rest[:1], rest[1:j], rest[j:], 0
		}
		// "a"b: shell concatenation; the whole rest is the value.
	}
	end := len(rest)
	for i := 1; i < len(rest); i++ {
		if c := rest[i]; (c == '#' || c == ';' && !colon) && (rest[i-1] == ' ' || rest[i-1] == '\t') {
			end = i
			break
		}
	}
	if quotedKey {
		// JSON: a bare value (number, literal) ends at the next delimiter.
		if i := strings.IndexAny(rest[:end], ",}]"); i >= 0 {
			end = i
		}
	}
	val = strings.TrimRight(rest[:end], " \t")
	return "", val, rest[len(val):], 0
}

// closingQuote returns the index in s of the quote q that closes a value
// whose opening quote came just before s, or -1. In double quotes a
// backslash escapes the next character; in single quotes a doubled quote
// (the YAML escape for a quote) does not close.
func closingQuote(s string, q byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if q == '"' {
				i++
			}
		case q:
			if q == '\'' && i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i
		}
	}
	return -1
}
