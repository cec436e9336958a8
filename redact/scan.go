package redact

import (
	"bytes"
	"regexp"
	"strings"
)

// normal redacts a line outside any multi-line value.
func (r *Redactor) normal(l string, st *state) (string, int) {
	if !r.mayHaveSecret(l, st) {
		return l, 0
	}
	// A private key block starting here is noted before its BEGIN line is
	// possibly redacted away as the value of a key.
	startPEM := false
	if loc := pemBegin.FindStringIndex(l); loc != nil {
		startPEM = !strings.Contains(l[loc[1]:], "-----END ")
	}
	// The rules keyed by name only run when a word of the line is a
	// secret name: most log lines that pass the hint filter ("session",
	// "Authorization" in a SIP header name is one) have none, and the
	// regular expressions are the cost of redaction.
	seps, _ := r.secretNames(l)
	n := 0
	if seps != 0 {
		l, n = r.named(l, seps, st)
	}
	l, k := unnamed(l)
	n += k
	r.openModes(l, seps != 0, startPEM, n, st)
	return l, n
}

// named applies the rules keyed by a secret name: the key at the start of
// the line, then each inline pattern that the line's separators allow, then
// XML elements.
func (r *Redactor) named(l string, seps sepMask, st *state) (string, int) {
	l, n := r.lineKey(l, st)
	k := 0
	for _, p := range inlinePatterns {
		if seps&p.sep != 0 && strings.Contains(l, p.need) {
			l, k = r.inline(l, p.re, st)
			n += k
		}
	}
	if seps&sepXML != 0 && strings.Contains(l, "</") {
		l, k = r.xml(l)
		n += k
	}
	return l, n
}

// openModes notes what a line leaves open for the next ones: a YAML
// "- --secret-flag" item whose value is the next item (named says the line
// has a secret name), an SMTP password challenge, a private key block
// (startPEM, with n values already redacted on the line).
func (r *Redactor) openModes(l string, named, startPEM bool, n int, st *state) {
	if st.mode == modeNone {
		if m := dashFlag.FindStringSubmatch(l); named && m != nil && r.isSecret(m[2]) {
			st.mode, st.indent, st.name = modeFlagValue, len(m[1]), m[2]
		} else if strings.Contains(l, "334 UGFzc3dvcmQ6") {
			st.mode = modeSMTPPassword // "Password:" in base64
		}
	}
	if startPEM && (st.mode == modeNone || st.bounded) {
		st.bounded = false
		st.mode = modePEM
		st.counted = n > 0
	}
}

// dashFlag matches a YAML list item that is a secret flag without its
// value ("- --db-password"); the next item is the value.
var dashFlag = regexp.MustCompile(`^(\s*)-[ \t]+["']?--?([A-Za-z][A-Za-z0-9_.\-]*)["']?[ \t]*$`)

// sepMask says how secret names appear on a line, so only the patterns
// that can match run.
type sepMask uint8

const (
	sepEq    sepMask = 1 << iota // name=, name =
	sepColon                     // name:, "name":
	sepDash                      // -name, --name
	sepXML                       // <name>
)

// secretNames returns how the secret names of l (words of letters,
// digits, '_', '.' and '-' that IsSecretKey accepts) are followed or
// started; 0 when l has none. Only words holding a hint word are checked
// with the full rule.
func (r *Redactor) secretNames(l string) (m sepMask, starts []int) {
	for i := 0; i < len(l); {
		if !isWordChar(l[i]) {
			i++
			continue
		}
		j := i
		for j < len(l) && isWordChar(l[j]) {
			j++
		}
		// The separator first: it is cheap, and most words have none.
		var wm sepMask
		if l[i] == '-' {
			wm |= sepDash
		}
		k := j
		if k < len(l) && (l[k] == '"' || l[k] == '\'' || l[k] == '>') {
			if l[k] == '>' {
				wm |= sepXML
			}
			k++
		}
		for k < len(l) && (l[k] == ' ' || l[k] == '\t') {
			k++
		}
		if k < len(l) {
			switch l[k] {
			case '=':
				wm |= sepEq
			case ':':
				wm |= sepColon
			case ',':
				wm |= sepDash // "-name", "value" in a list
			}
		}
		if w := l[i:j]; wm != 0 && j-i >= 2 && r.hasHint(w) && r.isSecret(w) {
			starts = append(starts, i)
			m |= wm
		}
		i = j
	}
	return m, starts
}

func isWordChar(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' }

// hasHint reports whether w holds a hint word or an extra word, ignoring
// case.
func (r *Redactor) hasHint(w string) bool {
	for _, h := range hintWords {
		if containsFold(w, h) {
			return true
		}
	}
	if r != nil && len(r.extra) > 0 {
		n := normalizeWord(w) // extra words are kept without separators
		for _, h := range r.extra {
			if strings.Contains(n, h) {
				return true
			}
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring the case of s.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		k := 0
		for k < len(sub) && lower(s[i+k]) == sub[k] {
			k++
		}
		if k == len(sub) {
			return true
		}
	}
	return false
}

// hintBytes are hintWords as byte slices, for mayHaveSecret.
var hintBytes = func() [][]byte {
	out := make([][]byte, len(hintWords))
	for i, w := range hintWords {
		out[i] = []byte(w)
	}
	return out
}()

// hintWords are contained in every secret word of IsSecretKey.
var hintWords = []string{"pass", "pw", "secret", "token", "key", "cred", "auth", "psk", "session"}

// mayHaveSecret is a fast filter: a line can only hold a secret if its
// letters contain a hint word or an extra word (the letters of a key name
// are a substring of the letters of the line), a URL or a PEM block.
func (r *Redactor) mayHaveSecret(l string, st *state) bool {
	if strings.Contains(l, "://") || strings.Contains(l, "-----BEGIN") ||
		strings.Contains(l, "-u") || strings.Contains(l, "334 ") {
		return true // URLs, PEM, curl -u user:pw, SMTP challenges
	}
	b := st.scratch[:0] // reused line after line: no allocation per line
	for i := 0; i < len(l); i++ {
		if c := lower(l[i]); isLower(c) {
			b = append(b, c)
		}
	}
	st.scratch = b
	if len(b) == 0 {
		return false
	}
	for _, w := range hintBytes {
		if bytes.Contains(b, w) {
			return true
		}
	}
	if r != nil {
		for _, w := range r.extra {
			if bytes.Contains(b, []byte(w)) {
				return true
			}
		}
	}
	return false
}
