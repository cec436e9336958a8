// Package termsafe makes text from untrusted sources (packet captures, PBX
// logs, answers of servers) safe to print on a terminal: escape sequences
// (CSI, OSC, DCS and the like), C0 and C1 control characters except
// newline and tab, DEL, Unicode bidirectional overrides and invalid UTF-8
// are removed, so a SIP reason phrase cannot move the cursor, retitle the
// window, hide text or inject a hyperlink. JSON output is not passed
// through it: it must stay exact, and its encoder escapes controls itself.
package termsafe

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Strip returns s without escape sequences and control characters.
func Strip(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	var f filter
	f.write(&b, []byte(s))
	f.flush(&b)
	return b.String()
}

// clean reports whether s has nothing to strip (the common case, checked
// without allocating).
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c >= 0x80 {
			if c < 0x80 {
				return false
			}
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError || unsafeRune(r) {
				return false
			}
			i += n - 1
		}
	}
	return true
}

// unsafeRune reports C1 controls and the bidirectional controls that
// reorder what the terminal shows.
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
		r == 0x200e || r == 0x200f || r == 0x061c
}

// Writer strips what is written through it before passing it on. An
// escape sequence or a character split across writes is handled whole.
type Writer struct {
	w io.Writer
	f filter
}

// NewWriter returns a Writer that passes clean text to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write strips p and writes the rest to the underlying writer. It reports
// len(p) on success: every byte was consumed, if not passed on.
func (w *Writer) Write(p []byte) (int, error) {
	var b strings.Builder
	w.f.write(&b, p)
	if _, err := io.WriteString(w.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush passes on what an incomplete character at the end held back (as
// the replacement character).
func (w *Writer) Flush() error {
	var b strings.Builder
	w.f.flush(&b)
	_, err := io.WriteString(w.w, b.String())
	return err
}

type state int

const (
	text    state = iota
	esc           // after ESC
	csi           // in ESC [ ... until a final byte
	str           // in OSC, DCS, SOS, PM or APC until BEL or ST
	strEsc        // ESC inside a string: ST if '\' follows
	escArgs       // ESC followed by intermediate bytes (ESC ( B)
)

// filter is the state kept between writes.
type filter struct {
	st      state
	pending []byte // the start of a multi-byte character
}

func (f *filter) write(b *strings.Builder, p []byte) {
	if len(f.pending) > 0 {
		p = append(f.pending, p...)
		f.pending = nil
	}
	for i := 0; i < len(p); {
		if f.st != text {
			f.sequence(p[i])
			i++
			continue
		}
		n := f.text(b, p[i:])
		if n == 0 {
			f.pending = append([]byte(nil), p[i:]...)
			return
		}
		i += n
	}
}

// sequence consumes one byte of an escape sequence; the sequence is dropped.
func (f *filter) sequence(c byte) {
	switch f.st {
	case esc:
		f.st = afterEsc(c)
	case escArgs:
		if c < 0x20 || c > 0x2f {
			f.st = text
		}
	case csi:
		if c >= 0x40 && c <= 0x7e || c < 0x20 && c != 0x1b {
			f.st = text
		} else if c == 0x1b {
			f.st = esc
		}
	case str:
		switch c {
		case 0x07:
			f.st = text
		case 0x1b:
			f.st = strEsc
		}
	case strEsc:
		f.st = str
		if c == '\\' {
			f.st = text
		}
	}
}

// afterEsc is the state after ESC and c.
func afterEsc(c byte) state {
	switch {
	case c == '[':
		return csi
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return str
	case c >= 0x20 && c <= 0x2f:
		return escArgs
	}
	return text // a two-byte sequence: ESC and c go
}

// text writes the character at the start of p if it is safe and returns
// its length, or 0 when p ends inside a UTF-8 sequence.
func (f *filter) text(b *strings.Builder, p []byte) int {
	if c := p[0]; c < 0x80 {
		switch {
		case c == 0x1b:
			f.st = esc
		case c == '\n' || c == '\t' || c >= 0x20 && c != 0x7f:
			b.WriteByte(c)
		}
		return 1
	}
	if !utf8.FullRune(p) {
		return 0
	}
	r, n := utf8.DecodeRune(p)
	switch {
	case r == 0x9b: // C1 CSI
		f.st = csi
	case r == 0x9d || r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f: // C1 OSC, DCS, SOS, PM, APC
		f.st = str
	case r == utf8.RuneError && n == 1:
		b.WriteRune(utf8.RuneError)
	case unsafeRune(r):
	default:
		b.Write(p[:n])
	}
	return n
}

func (f *filter) flush(b *strings.Builder) {
	if len(f.pending) > 0 {
		b.WriteRune(utf8.RuneError)
		f.pending = nil
	}
}
