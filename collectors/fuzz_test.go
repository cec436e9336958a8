package collectors

import (
	"strings"
	"testing"
)

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"45000-65000", "5060", " 1 - 65535 ", "65000-45000", "0-1", "-", "1-2-3", "+5-6", "99999", "٣-٤"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, err := parsePortRange(s)
		if err != nil {
			if first != 0 || last != 0 {
				t.Fatalf("error with bounds %d-%d", first, last)
			}
			return
		}
		if first < 1 || last > 65535 || first > last {
			t.Fatalf("%q parsed to %d-%d", s, first, last)
		}
	})
}

func FuzzHealthFromStatus(f *testing.F) {
	for _, s := range []string{"Up 3 hours (healthy)", "Up 5 seconds (health: starting)", "Exited (1) 2 minutes ago", "((", ")(unhealthy)", "Up (HEALTHY)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		switch h := healthFromStatus(s); h {
		case "":
		case "healthy", "unhealthy", "starting":
			if !strings.Contains(s, "(") || !strings.Contains(s, ")") {
				t.Fatalf("%q: health %q without parentheses", s, h)
			}
		default:
			t.Fatalf("%q: unexpected health %q", s, h)
		}
	})
}
