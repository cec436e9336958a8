package termsafe

import (
	"bytes"
	"strings"
	"testing"
)

func TestStrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text\twith tab\n", "plain text\twith tab\n"},
		{"SIP/2.0 486 Busy Here", "SIP/2.0 486 Busy Here"},
		{"Busy\x1b[2J\x1b[1;1HHere", "BusyHere"},
		{"red \x1b[31mtext\x1b[0m", "red text"},
		{"title \x1b]0;pwned\x07done", "title done"},
		{"link \x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "link click"},
		{"dcs \x1bPq#0;2;0;0;0\x1b\\end", "dcs end"},
		{"charset \x1b(Bok", "charset ok"},
		{"reset \x1bcok", "reset ok"},
		{"cr\roverwrite bell\x07 bs\x08 nul\x00 del\x7f", "croverwrite bell bs nul del"},
		{"c1 \u009b31mred \u009d0;x\u0007ok \u0085nel", "c1 red ok nel"},
		{"bidi \u202eevil\u202c \u2066x\u2069", "bidi evil x"},
		{"utf8 ünïcödé 日本 ☎", "utf8 ünïcödé 日本 ☎"},
		{"bad \xff\xfe utf8", "bad \ufffd\ufffd utf8"},
		{"unterminated \x1b[31", "unterminated "},
	}
	for _, c := range cases {
		if got := Strip(c.in); got != c.want {
			t.Errorf("Strip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestWriterSplits: the Writer gives the same result however the text is
// cut into writes, also inside a sequence or a character.
func TestWriterSplits(t *testing.T) {
	in := "a\x1b]0;t\x1b\\b\x1b[1;31mc日\u202ed\u009b2Je\n"
	want := Strip(in)
	for cut := 0; cut <= len(in); cut++ {
		var out bytes.Buffer
		w := NewWriter(&out)
		w.Write([]byte(in[:cut]))
		w.Write([]byte(in[cut:]))
		w.Flush()
		if out.String() != want {
			t.Errorf("cut at %d: %q, want %q", cut, out.String(), want)
		}
	}
	if want != "abc日de\n" {
		t.Errorf("Strip = %q", want)
	}
}

func FuzzStrip(f *testing.F) {
	f.Add("x\x1b[31my\x1b]0;z\x07")
	f.Add("\u009b\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Strip(s)
		for _, r := range out {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || unsafeRune(r) {
				t.Fatalf("Strip(%q) = %q keeps control %U", s, out, r)
			}
		}
		if Strip(out) != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, Strip(out))
		}
		if !strings.Contains(s, "\x1b") && !strings.ContainsAny(s, "\u009b\u009d\u0090\u0098\u009e\u009f") && len(out) > len(s)*3 {
			t.Fatalf("output grew: %q -> %q", s, out)
		}
	})
}
