package redact

import (
	"regexp"
	"strings"
)

// mode is what the previous lines left open.
type mode int

const (
	modeNone         mode = iota
	modeQuote             // inside a quoted secret value spanning lines
	modeBlock             // inside a YAML block scalar ("key: |") of a secret key
	modeYAMLList          // below a secret "key:" with no value: its "- item" lines
	modeBracket           // inside a JSON or YAML "[" list of a secret key
	modePEM               // inside a PEM private key block
	modeFlagValue         // after a YAML "- --secret-flag" item: the next item is its value
	modeSMTPPassword      // after an SMTP "334 Password:" challenge: the next line answers it
)

// state carries what one line leaves open for the next; it lives only for
// one call of String or Copy.
type state struct {
	mode    mode
	indent  int    // column of the key that opened modeBlock or modeYAMLList
	quote   byte   // quote character that opened modeQuote
	counted bool   // the value spanning lines was already counted
	bounded bool   // modeQuote ends at a line indented no more than indent
	comment bool   // modeBlock is a commented-out block ("# key: |")
	scratch []byte // the letters of the current line, for mayHaveSecret
	name    string // key that opened modeYAMLList, modeBracket or modeFlagValue
	child   bool   // modeYAMLList saw a nested mapping below its key
}

// process redacts one line in state st: a line inside a value opened by
// an earlier line goes to the handler of that mode, which may close the
// mode and hand the line on to the single-line rules (normal).
func (r *Redactor) process(l string, st *state) (string, int) {
	if h := modeLines[st.mode]; h != nil {
		if out, n, ok := h(r, l, st); ok {
			return out, n
		}
	}
	return r.normal(l, st)
}

// modeLine handles a line in one mode. done false means the mode gave the
// line up: the single-line rules run on it.
type modeLine func(r *Redactor, l string, st *state) (out string, n int, done bool)

// modeLines holds the handler of each mode; modeNone has none.
var modeLines = [...]modeLine{
	modeQuote:        (*Redactor).quoteMode,
	modePEM:          (*Redactor).pemMode,
	modeBlock:        (*Redactor).blockMode,
	modeYAMLList:     (*Redactor).yamlListMode,
	modeBracket:      (*Redactor).bracketMode,
	modeFlagValue:    (*Redactor).flagValueMode,
	modeSMTPPassword: (*Redactor).smtpPasswordMode,
}

// done marks a line a mode handled itself.
func done(out string, n int) (string, int, bool) { return out, n, true }

// quoteMode: inside a quoted value spanning lines. A bounded one (a YAML
// flow scalar found inline) ends at a line indented no more than its own.
func (r *Redactor) quoteMode(l string, st *state) (string, int, bool) {
	if st.bounded && strings.TrimSpace(l) != "" && indentOf(l) <= st.indent {
		st.mode, st.bounded = modeNone, false
		return "", 0, false
	}
	return done(st.quoteLine(l))
}

// pemMode: inside a private key block, up to its END line.
func (r *Redactor) pemMode(l string, st *state) (string, int, bool) {
	if !strings.Contains(l, "-----END ") {
		return done(st.wholeLine(l))
	}
	st.mode = modeNone
	return "", 0, false
}

// blockMode: inside a block scalar, or a plain scalar continued on more
// indented lines, of a secret key.
func (r *Redactor) blockMode(l string, st *state) (string, int, bool) {
	if strings.TrimSpace(l) == "" {
		return done(l, 0)
	}
	if st.comment {
		// A commented-out block: "#" lines whose text is indented more
		// than the key's.
		if c := commentedIndent(l); c > st.indent {
			if t := strings.TrimSpace(l[c:]); t == "" || t == Marker {
				return done(l, 0)
			}
			return done(l[:c]+Marker, st.countOnce())
		}
		st.mode, st.comment = modeNone, false
		return "", 0, false
	}
	if indentOf(l) > st.indent {
		return done(st.wholeLine(l))
	}
	st.mode = modeNone
	return "", 0, false
}

// yamlListMode: below a secret "key:" with no value on its line.
func (r *Redactor) yamlListMode(l string, st *state) (string, int, bool) {
	t := strings.TrimSpace(l)
	if t == "" || t[0] == '#' {
		return "", 0, false
	}
	ind := indentOf(l)
	switch {
	case isDashItem(t) && ind >= st.indent && !yamlMapItem.MatchString(t):
		return done(r.yamlItem(st.name, l))
	case ind > st.indent && !st.child && !isDashItem(t) && !yamlKeyLine.MatchString(t):
		// "key:" with its scalar on the next line (plain, quoted, block
		// or flow): the value.
		return done(st.nextLineValue(l))
	case ind > st.indent, ind == st.indent && isDashItem(t):
		st.child = true // a nested mapping: its own keys decide
	default:
		st.mode = modeNone
	}
	return "", 0, false
}

// flagValueMode: the line after a "- --secret-flag" item; a list item at
// the same indentation is the flag's value.
func (r *Redactor) flagValueMode(l string, st *state) (string, int, bool) {
	st.mode = modeNone
	if t := strings.TrimSpace(l); isDashItem(t) && indentOf(l) == st.indent {
		out, n := r.yamlItem(st.name, l)
		rest, k := r.normal(out, st)
		return done(rest, n+k)
	}
	return "", 0, false
}

// smtpPasswordMode: the first non-empty line after an SMTP "334
// Password:" challenge, whose last word is the base64 password.
func (r *Redactor) smtpPasswordMode(l string, st *state) (string, int, bool) {
	if strings.TrimSpace(l) == "" {
		return done(l, 0)
	}
	st.mode = modeNone
	if m := smtpAnswer.FindStringSubmatchIndex(l); m != nil && needsRedaction(l[m[2]:m[3]]) {
		rest, k := r.normal(l[:m[2]]+Marker+l[m[3]:], st)
		return done(rest, 1+k)
	}
	return "", 0, false
}

// bracketMode: inside a "[" list of a secret key spanning lines, up to
// its "]". A line that looks like a mapping or a PEM block ends the list's
// hold on it.
func (r *Redactor) bracketMode(l string, st *state) (string, int, bool) {
	if strings.ContainsAny(l, "{}:[") || strings.Contains(l, "-----BEGIN") {
		if strings.Contains(l, "]") {
			st.mode = modeNone
		}
		return "", 0, false
	}
	end := strings.IndexByte(l, ']')
	if end < 0 {
		return done(r.redactList(st.name, l))
	}
	st.mode = modeNone
	out, n := r.redactList(st.name, l[:end])
	rest, k := r.normal(l[end:], st)
	return done(out+rest, n+k)
}

// nextLineValue redacts the scalar of a YAML "key:" that starts on the
// line after the key, and everything more indented than the key after it.
func (st *state) nextLineValue(l string) (string, int) {
	ind := indentOf(l)
	t := l[ind:]
	st.counted = false
	if q := t[0]; q == '"' || q == '\'' {
		j := closingQuote(t[1:], q)
		if j < 0 {
			st.mode, st.quote = modeQuote, q
			if !needsRedaction(t[1:]) {
				return l, 0
			}
			return l[:ind+1] + Marker, st.countOnce()
		}
		st.mode = modeBlock // a continuation would be invalid YAML; take it anyway
		if !needsRedaction(t[1 : j+1]) {
			return l, 0
		}
		return l[:ind+1] + Marker + t[j+1:], st.countOnce()
	}
	st.mode = modeBlock
	if blockIndicator.MatchString(strings.TrimSpace(t)) {
		return l, 0
	}
	return st.wholeLine(l)
}

// commentedIndent returns the column of the text of a comment line
// ("  #   text" -> 5), or -1 when l is not a comment line.
func commentedIndent(l string) int {
	i := indentOf(l)
	if i >= len(l) || l[i] != '#' {
		return -1
	}
	for i < len(l) && l[i] == '#' {
		i++
	}
	return i + indentOf(l[i:])
}

// wholeLine replaces the content of a line inside a multi-line secret,
// keeping its indentation; the value is counted once.
func (st *state) wholeLine(l string) (string, int) {
	t := strings.TrimSpace(l)
	if t == "" || t == Marker {
		return l, 0
	}
	n := 0
	if !st.counted {
		st.counted = true
		n = 1
	}
	return l[:indentOf(l)] + Marker, n
}

// quoteLine handles a line inside a quoted secret value spanning lines.
func (st *state) quoteLine(l string) (string, int) {
	j := closingQuote(l, st.quote)
	if j < 0 {
		if strings.TrimSpace(l) == "" || l == Marker {
			return l, 0
		}
		return Marker, st.countOnce()
	}
	st.mode = modeNone
	if strings.TrimSpace(l[:j]) == "" || l[:j] == Marker {
		return l, 0
	}
	return Marker + l[j:], st.countOnce()
}

func (st *state) countOnce() int {
	if st.counted {
		return 0
	}
	st.counted = true
	return 1
}

// yamlMapItem matches a YAML list item that is a mapping ("- key: v").
var yamlMapItem = regexp.MustCompile(`^-\s+(?:"[^"]*"|'[^']*'|[^\s"'#][^:]*?):(?:\s|$)`)

// yamlKeyLine matches a YAML line that starts with a mapping key.
var yamlKeyLine = regexp.MustCompile(`^(?:"[^"]*"|'[^']*'|[^\s"'#|>\[{!&*][^:#]*?)[ \t]*:(?:\s|$)`)

var blockIndicator = regexp.MustCompile(`^[|>][-+0-9]*$`)

// smtpAnswer matches the base64 answer to an SMTP AUTH LOGIN challenge:
// the last word of the line.
var smtpAnswer = regexp.MustCompile(`([A-Za-z0-9+/]{2,}={0,2})\s*$`)

// yamlItem redacts the scalar of a "- value" line below a secret key.
func (r *Redactor) yamlItem(name, l string) (string, int) {
	i := indentOf(l) + 1
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	lead, val, trail, _ := splitValue(l[i:], true, false)
	nv, changed := r.redactValue(name, val)
	if !changed {
		return l, 0
	}
	return l[:i] + lead + nv + trail, 1
}

// yamlProps returns the length of the YAML node properties (tags "!x",
// anchors "&x") and the blanks after them at the start of s.
func yamlProps(s string) int {
	n := 0
	for n < len(s) && (s[n] == '!' || s[n] == '&') {
		i := n
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		n = i
	}
	return n
}

// indentOf returns the number of leading spaces and tabs of l.
func indentOf(l string) int {
	i := 0
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	return i
}

// isDashItem reports whether trimmed line t is a YAML list item.
func isDashItem(t string) bool {
	return t == "-" || strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "-\t")
}
