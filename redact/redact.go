package redact

import (
	"bufio"
	"bytes"
	"io"
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

// MaxLine is the longest line Copy redacts as one: a longer line is cut
// into pieces of at most MaxLine bytes, preferably after a blank or a
// comma near the end of the piece, so memory stays bounded whatever the
// input. A secret across such a cut may be missed by the key rules; the
// value rules (see WithValues) see each piece whole.
const MaxLine = 1 << 20

// Copy writes a redacted copy of src to dst, reading it line by line, and
// returns the number of values redacted. It gives the same result as
// Bytes for text whose lines are shorter than MaxLine, without holding
// more than one line in memory; the caller bounds src if its size is not
// trusted.
func (r *Redactor) Copy(dst io.Writer, src io.Reader) (count int, err error) {
	lr := &lineReader{br: bufio.NewReaderSize(src, 64<<10)}
	bw := bufio.NewWriterSize(dst, 64<<10)
	var st state
	for {
		l, rerr := lr.next()
		if rerr != nil && rerr != io.EOF {
			return count, rerr
		}
		nl := strings.HasSuffix(l, "\n")
		out, n := r.line(strings.TrimSuffix(l, "\n"), &st)
		count += n
		if _, err := bw.WriteString(out); err != nil {
			return count, err
		}
		if nl {
			if err := bw.WriteByte('\n'); err != nil {
				return count, err
			}
		}
		if rerr == io.EOF {
			return count, bw.Flush()
		}
	}
}

// lineReader returns lines with their '\n', cutting a line longer than
// MaxLine into pieces.
type lineReader struct {
	br      *bufio.Reader
	pending []byte // the rest of a cut line
	buf     []byte
}

// next returns the next line or piece; with io.EOF, the last bytes.
func (lr *lineReader) next() (string, error) {
	b := append(lr.buf[:0], lr.pending...)
	lr.pending = lr.pending[:0]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		lr.pending = append(lr.pending, b[i+1:]...)
		lr.buf = b
		return string(b[:i+1]), nil
	}
	for len(b) <= MaxLine {
		frag, err := lr.br.ReadSlice('\n')
		b = append(b, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil || len(b) <= MaxLine {
			lr.buf = b
			return string(b), err
		}
	}
	// Cut after a blank or comma in the last 4 KiB of the piece.
	cut := MaxLine
	from := cut - 4<<10
	if i := bytes.LastIndexAny(b[from:cut], " \t,"); i >= 0 {
		cut = from + i + 1
	}
	lr.pending = append(lr.pending, b[cut:]...)
	lr.buf = b
	return string(b[:cut]), nil
}

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

func (r *Redactor) process(l string, st *state) (string, int) {
	switch st.mode {
	case modeQuote:
		if st.bounded && strings.TrimSpace(l) != "" && indentOf(l) <= st.indent {
			st.mode, st.bounded = modeNone, false
			return r.normal(l, st)
		}
		return st.quoteLine(l)
	case modePEM:
		if !strings.Contains(l, "-----END ") {
			return st.wholeLine(l)
		}
		st.mode = modeNone
	case modeBlock:
		if strings.TrimSpace(l) == "" {
			return l, 0
		}
		if st.comment {
			// A commented-out block: "#" lines whose text is indented
			// more than the key's.
			if c := commentedIndent(l); c > st.indent {
				if t := strings.TrimSpace(l[c:]); t == "" || t == Marker {
					return l, 0
				}
				return l[:c] + Marker, st.countOnce()
			}
			st.mode, st.comment = modeNone, false
			break
		}
		if indentOf(l) > st.indent {
			return st.wholeLine(l)
		}
		st.mode = modeNone
	case modeYAMLList:
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			break
		}
		ind := indentOf(l)
		switch {
		case isDashItem(t) && ind >= st.indent && !yamlMapItem.MatchString(t):
			return r.yamlItem(st.name, l)
		case ind > st.indent && !st.child && !isDashItem(t) && !yamlKeyLine.MatchString(t):
			// "key:" with its scalar on the next line (plain, quoted,
			// block or flow): the value.
			return st.nextLineValue(l)
		case ind > st.indent, ind == st.indent && isDashItem(t):
			st.child = true // a nested mapping: its own keys decide
		default:
			st.mode = modeNone
		}
	case modeFlagValue:
		st.mode = modeNone
		if t := strings.TrimSpace(l); isDashItem(t) && indentOf(l) == st.indent {
			out, n := r.yamlItem(st.name, l)
			rest, k := r.normal(out, st)
			return rest, n + k
		}
	case modeSMTPPassword:
		if strings.TrimSpace(l) == "" {
			return l, 0
		}
		st.mode = modeNone
		if m := smtpAnswer.FindStringSubmatchIndex(l); m != nil && needsRedaction(l[m[2]:m[3]]) {
			rest, k := r.normal(l[:m[2]]+Marker+l[m[3]:], st)
			return rest, 1 + k
		}
	case modeBracket:
		if strings.ContainsAny(l, "{}:[") || strings.Contains(l, "-----BEGIN") {
			if strings.Contains(l, "]") {
				st.mode = modeNone
			}
			break
		}
		end := strings.IndexByte(l, ']')
		if end < 0 {
			return r.redactList(st.name, l)
		}
		st.mode = modeNone
		out, n := r.redactList(st.name, l[:end])
		rest, k := r.normal(l[end:], st)
		return out + rest, n + k
	}
	return r.normal(l, st)
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

var (
	pemBegin = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----`)

	// lineKV matches a key at the start of a line: optional comment
	// characters, YAML list dash, shell "export" and the like, then the key
	// (bare or quoted) and its separator.
	lineKV = regexp.MustCompile(`^(\s*(?:[#;]+\s*)?(?:-\s+)?(?:(?:export|readonly|local|typeset|declare(?:\s+-[A-Za-z]+)*|set)\s+)?(?:\$env:)?)` +
		`(?:"([^"\s]+)"|'([^'\s]+)'|([A-Za-z_][A-Za-z0-9_.\-]*))` +
		`(\s*(?:=>|=|:)\s*)`)

	// yamlMapItem matches a YAML list item that is a mapping ("- key: v").
	yamlMapItem = regexp.MustCompile(`^-\s+(?:"[^"]*"|'[^']*'|[^\s"'#][^:]*?):(?:\s|$)`)

	blockIndicator = regexp.MustCompile(`^[|>][-+0-9]*$`)

	authScheme = regexp.MustCompile(`^(?i:bearer|basic|digest|negotiate|ntlm|token)[ \t]+`)
)

// Inline patterns, applied anywhere on a line after the line-start key.
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

// alwaysPatterns find values that are secret whatever names them; group 1
// is the value. need lists substrings of which the line must hold one.
var alwaysPatterns = []struct {
	need []string
	re   *regexp.Regexp
}{
	// SMTP authentication with an initial response, as sent and as a
	// server may echo it: AUTH PLAIN <base64 of \0user\0password>.
	{[]string{"AUTH ", "auth ", "Auth ", "AUTH\t"}, regexp.MustCompile(`(?i:\bAUTH[ \t]+(?:PLAIN|LOGIN|XOAUTH2?|OAUTHBEARER|CRAM-MD5|DIGEST-MD5|SCRAM-SHA-[0-9]+(?:-PLUS)?|NTLM|GSSAPI))[ \t]+([^\s"'<>=][^\s"'<>]*)`)},
	// curl -u user:password, --user, --proxy-user, also as JSON/YAML list
	// items ("-u", "admin:x") in a compose healthcheck.
	{[]string{"-u"}, regexp.MustCompile(`(?:^|[\s"'\[,=])(?:-u|--user|--proxy-user)(?:[ \t]+|=|["'][ \t]*,[ \t]*["']?)["']?[^\s"':,\]/]*:([^\s"',\]]+)`)},
}

// dashFlag matches a YAML list item that is a secret flag without its
// value ("- --db-password"); the next item is the value.
var dashFlag = regexp.MustCompile(`^(\s*)-[ \t]+["']?--?([A-Za-z][A-Za-z0-9_.\-]*)["']?[ \t]*$`)

// smtpAnswer matches the base64 answer to an SMTP AUTH LOGIN challenge:
// the last word of the line.
var smtpAnswer = regexp.MustCompile(`([A-Za-z0-9+/]{2,}={0,2})\s*$`)

// yamlKeyLine matches a YAML line that starts with a mapping key.
var yamlKeyLine = regexp.MustCompile(`^(?:"[^"]*"|'[^']*'|[^\s"'#|>\[{!&*][^:#]*?)[ \t]*:(?:\s|$)`)

func containsAny(l string, subs []string) bool {
	for _, s := range subs {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// always replaces group 1 of every match of re.
func always(l string, re *regexp.Regexp) (string, int) {
	return markGroup(l, re, func(v string) bool { return needsRedaction(v) && !strings.HasPrefix(v, "//") })
}

// markGroup replaces the first submatch of every match of re on the line
// with Marker where secret(submatch) holds, and counts the replacements.
func markGroup(l string, re *regexp.Regexp, secret func(string) bool) (string, int) {
	ms := re.FindAllStringSubmatchIndex(l, -1)
	var b strings.Builder
	last, n := 0, 0
	for _, m := range ms {
		if !secret(l[m[2]:m[3]]) {
			continue
		}
		b.WriteString(l[last:m[2]])
		b.WriteString(Marker)
		last, n = m[3], n+1
	}
	if n == 0 {
		return l, 0
	}
	b.WriteString(l[last:])
	return b.String(), n
}

// xmlElement matches <name>value</name>; the names are compared in code.
var xmlElement = regexp.MustCompile(`<([A-Za-z_][A-Za-z0-9_.\-:]*)>([^<]*)</([A-Za-z_][A-Za-z0-9_.\-:]*)>`)

// urlUserinfo matches scheme://user:password@; the password may hold '@'.
var urlUserinfo = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:"'<>]*:([^\s/?#"'<>]*)@`)

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
	named := seps != 0
	n, k := 0, 0
	if named {
		l, n = r.lineKey(l, st)
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
	}
	if strings.Contains(l, "://") {
		l, k = urls(l)
		n += k
	}
	if loc := pemBegin.FindStringIndex(l); loc != nil {
		after := l[loc[1]:]
		e := strings.Index(after, "-----END ")
		if e < 0 {
			e = len(after)
		}
		if needsRedaction(after[:e]) {
			l = l[:loc[1]] + Marker + after[e:]
			n++
		}
	}
	for _, p := range alwaysPatterns {
		if containsAny(l, p.need) {
			l, k = always(l, p.re)
			n += k
		}
	}
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
	return l, n
}

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

// lineKey redacts the value of a key at the start of the line, which runs
// to the end of the line (less quotes and a trailing comment), and opens
// multi-line modes.
func (r *Redactor) lineKey(l string, st *state) (string, int) {
	m := lineKV.FindStringSubmatchIndex(l)
	if m == nil {
		return l, 0
	}
	var name string
	var keyCol int
	quotedKey := true
	switch {
	case m[4] >= 0:
		name, keyCol = l[m[4]:m[5]], m[4]-1
	case m[6] >= 0:
		name, keyCol = l[m[6]:m[7]], m[6]-1
	default:
		name, keyCol, quotedKey = l[m[8]:m[9]], m[8], false
	}
	if !r.isSecret(name) {
		return l, 0
	}
	commented := strings.ContainsAny(l[m[2]:m[3]], "#;")
	sep := l[m[10]:m[11]]
	colon := strings.Contains(sep, ":")
	head, rest := l[:m[1]], l[m[1]:]
	if colon && !quotedKey {
		// YAML tags and anchors before the value ("!!str", "&pw") stay.
		p := yamlProps(rest)
		head, rest = head+rest[:p], rest[p:]
	}
	lead, val, trail, open := splitValue(rest, colon, quotedKey)
	multi := !commented && !quotedKey
	switch {
	case open != 0:
		n := 0
		if multi {
			st.mode, st.quote, st.counted = modeQuote, open, false
		}
		if needsRedaction(val) {
			val, n = Marker, 1
			st.counted = true
		}
		return head + lead + val, n
	case lead != "":
	case colon && (blockIndicator.MatchString(val) || val == "") && commented && !quotedKey:
		// A commented-out block or next-line value.
		st.mode, st.indent, st.counted, st.comment = modeBlock, keyCol, false, true
		return l, 0
	case colon && blockIndicator.MatchString(val):
		if !commented {
			st.mode, st.indent, st.counted = modeBlock, keyCol, false
		}
		return l, 0
	case colon && val == "":
		if multi {
			st.mode, st.indent, st.name, st.child = modeYAMLList, keyCol, name, false
		}
		return l, 0
	case (colon || quotedKey) && strings.HasPrefix(val, "["):
		if strings.HasSuffix(val, "]") {
			out, n := r.redactList(name, val[1:len(val)-1])
			return head + "[" + out + "]" + trail, n
		}
		if !commented {
			st.mode, st.name = modeBracket, name
		}
		out, n := r.redactList(name, val[1:])
		return head + "[" + out + trail, n
	case colon && strings.HasPrefix(val, "{"):
		return l, 0 // a flow mapping: the inline patterns see its pairs
	}
	nv, changed := r.redactValue(name, val)
	if colon && multi && lead == "" && val != "" {
		// A YAML plain scalar continues on more indented lines.
		st.mode, st.indent, st.counted = modeBlock, keyCol, changed
	}
	if !changed {
		return l, 0
	}
	return head + lead + nv + trail, 1
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
		// The pattern is tried only where a secret name starts (its
		// context character just before, "--" or a quote included).
		// A name that starts inside a value already replaced is part of
		// it; one that starts after it is tried even when its context
		// character closed that value (`"token":"a"token":b`), as a
		// second pass, which finds the marker kept, would try it too.
		if at < last {
			continue
		}
		from := max(at-1, 0)
		m := re.FindStringSubmatchIndex(l[from:])
		if m == nil {
			continue
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += from
			}
		}
		if m[2] < at || m[2] > at+2 {
			continue
		}
		name := l[m[2]:m[3]]
		vs, ve := m[6], m[7]
		if vs < 0 && len(m) > 8 {
			vs, ve = m[8], m[9]
		}
		if vs < 0 || !r.isSecret(name) {
			continue
		}
		if m[4] >= 0 && m[5] > m[4] && !authName(name) {
			vs = m[4] // a scheme word is only kept for auth headers
		}
		nv, k := r.inlineValue(name, l[vs:ve])
		if v := l[vs:ve]; v != "" && ve == len(l) && st.mode == modeNone && (v[0] == '"' || v[0] == '\'') &&
			(len(v) == 1 || closingQuote(v[1:], v[0]) != len(v)-2) {
			st.mode, st.quote, st.bounded, st.indent = modeQuote, v[0], true, indentOf(l)
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

// urls redacts the password of every scheme://user:password@host on the
// line; the user name stays.
func urls(l string) (string, int) {
	return markGroup(l, urlUserinfo, needsRedaction)
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
