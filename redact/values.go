package redact

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// MinValueLen is the shortest secret value WithValues matches by value:
// shorter ones would hit ordinary words and numbers all over a log. Such
// values are still redacted where a secret key names them.
const MinValueLen = 4

// minBase64Len is the shortest secret whose base64 spellings are matched:
// the part of a shorter secret's encoding that does not depend on its
// neighbours is too short to be told from other base64 text.
const minBase64Len = 6

// WithValues returns a copy of r that also replaces every occurrence of the
// given secret values, wherever they appear and whatever key (if any) they
// follow, by Marker: the plain value, its URL-encoded (query and path) and
// JSON-escaped spellings, and its base64 encoding (standard and URL
// alphabet) also when it is part of a longer base64 text such as
// "AUTH PLAIN" credentials, in which case the whole base64 word goes.
// Values shorter than MinValueLen bytes, and values Marker contains, are
// ignored. r is not modified; the result is safe for concurrent use.
func (r *Redactor) WithValues(values ...string) *Redactor {
	out := &Redactor{}
	if r != nil {
		*out = *r
	}
	var all []string
	if out.vals != nil {
		all = slices.Clone(out.vals.values)
	}
	for _, v := range values {
		if len(v) >= MinValueLen && !strings.Contains(Marker, v) && !slices.Contains(all, v) {
			all = append(all, v)
		}
	}
	if len(all) == 0 {
		return out
	}
	out.vals = newValueSet(all)
	return out
}

// needle is one spelling of a secret value.
type needle struct {
	s      string
	base64 bool // a base64 fragment: the whole base64 word around it goes
}

// valueSet finds the spellings of known secret values in a line in one
// pass. The first four bytes of every spelling index it; a 64 Ki-bit filter
// over a hash of those bytes rejects almost every position of a log line
// with two loads, so the cost does not grow with the number of values
// (BenchmarkValues: 600-750 MB/s). It is hand-written because a regexp
// alternation of the same spellings would be one more full-line regular
// expression per line, the cost the rest of the package works to avoid.
type valueSet struct {
	values  []string
	filter  [1 << 10]uint64
	byFirst map[uint32][]needle
}

func newValueSet(values []string) *valueSet {
	vs := &valueSet{values: values, byFirst: map[uint32][]needle{}}
	seen := map[string]bool{}
	add := func(s string, b64 bool) {
		if len(s) < MinValueLen || seen[s] || strings.Contains(Marker, s) {
			return
		}
		seen[s] = true
		k := binary.LittleEndian.Uint32([]byte(s[:4]))
		h := hash16(k)
		vs.filter[h>>6] |= 1 << (h & 63)
		vs.byFirst[k] = append(vs.byFirst[k], needle{s: s, base64: b64})
	}
	for _, v := range values {
		add(v, false)
		add(url.QueryEscape(v), false)
		add(url.PathEscape(v), false)
		if j, err := json.Marshal(v); err == nil {
			add(string(j[1:len(j)-1]), false)
		}
		if len(v) >= minBase64Len {
			for _, f := range base64Fragments(v) {
				add(f, true)
			}
		}
	}
	for k, ns := range vs.byFirst {
		// Longest first, so a longer spelling wins at the same position.
		slices.SortFunc(ns, func(a, b needle) int { return len(b.s) - len(a.s) })
		vs.byFirst[k] = ns
	}
	return vs
}

func hash16(k uint32) uint32 { return (k * 2654435761) >> 16 }

// base64Fragments returns, for each of the three byte alignments the value
// can have inside a longer base64 text, the characters of its encoding that
// depend on the value alone, in the standard and the URL alphabet.
func base64Fragments(v string) []string {
	var out []string
	for k := 0; k < 3; k++ {
		buf := make([]byte, k+len(v))
		copy(buf[k:], v)
		enc := base64.RawStdEncoding.EncodeToString(buf)
		from := (8*k + 5) / 6
		to := 8 * (k + len(v)) / 6
		if to-from < MinValueLen {
			continue
		}
		f := enc[from:to]
		out = append(out, f, strings.NewReplacer("+", "-", "/", "_").Replace(f))
	}
	return out
}

// span is a part of a line to replace.
type span struct{ from, to int }

// scan replaces the secret values in l and returns the count.
func (vs *valueSet) scan(l string) (string, int) {
	if vs == nil || len(l) < MinValueLen {
		return l, 0
	}
	var spans []span
	for i := 0; i+4 <= len(l); i++ {
		k := uint32(l[i]) | uint32(l[i+1])<<8 | uint32(l[i+2])<<16 | uint32(l[i+3])<<24
		h := hash16(k)
		if vs.filter[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, n := range vs.byFirst[k] {
			if !strings.HasPrefix(l[i:], n.s) {
				continue
			}
			s := span{i, i + len(n.s)}
			if n.base64 {
				s = base64Word(l, s)
			}
			spans = append(spans, s)
			break
		}
	}
	if spans == nil {
		return l, 0
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	last, n := 0, 0
	for i := 0; i < len(spans); {
		s := spans[i]
		for i++; i < len(spans) && spans[i].from <= s.to; i++ {
			s.to = max(s.to, spans[i].to)
		}
		if s.from < last {
			s.from = last
		}
		b.WriteString(l[last:s.from])
		b.WriteString(Marker)
		last, n = s.to, n+1
	}
	b.WriteString(l[last:])
	return b.String(), n
}

// base64Word widens a base64 fragment to the whole base64 word around it,
// with its '=' padding, so no bits of the secret stay at its edges.
func base64Word(l string, s span) span {
	for s.from > 0 && isBase64Char(l[s.from-1]) {
		s.from--
	}
	for s.to < len(l) && isBase64Char(l[s.to]) {
		s.to++
	}
	for s.to < len(l) && l[s.to] == '=' {
		s.to++
	}
	return s
}

func isBase64Char(c byte) bool {
	return isAlnum(c) || c == '+' || c == '/' || c == '-' || c == '_'
}
