package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	good := map[string]ByteSize{
		"0":          0,
		"4096":       4096,
		"500MiB":     500 * MiB,
		"500 MiB":    500 * MiB,
		" 2gb ":      2_000_000_000,
		"1.5GiB":     1536 * MiB,
		"64k":        64 * KiB,
		"64K":        64 * KiB,
		"1kb":        1000,
		"10B":        10,
		".5KiB":      512,
		"1TiB":       TiB,
		"1t":         TiB,
		"1.5":        2,
		"4096.":      4096,
		"8EiB":       -1, // unknown unit
		"":           -1,
		"MiB":        -1,
		"-1MiB":      -1,
		"-0":         -1,
		"abc":        -1,
		"1e3":        -1,
		"0x10":       -1,
		"1_000":      -1,
		"inf":        -1,
		"NaN":        -1,
		"1..5MiB":    -1,
		"1 000":      -1,
		"5MiBMiB":    -1,
		"1000TiB":    ByteSize(1000 * TiB),
		"9000000TiB": -1, // too large
	}
	for in, want := range good {
		got, err := ParseByteSize(in)
		if want < 0 {
			if err == nil {
				t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseByteSize("-5MiB"); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative: %v", err)
	}
}

func TestByteSizeString(t *testing.T) {
	for b, want := range map[ByteSize]string{0: "0B", 500 * MiB: "500MiB", 1536 * MiB: "1536MiB", 3 * GiB: "3GiB", 1000: "1000B", 2 * TiB: "2TiB"} {
		if got := b.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(b), got, want)
		}
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Errorf("round trip of %d: %d, %v", int64(b), back, err)
		}
	}
	if got := HumanBytes(1536 * int64(MiB)); got != "1.5 GiB" {
		t.Errorf("HumanBytes = %q", got)
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	cases := map[string]time.Duration{
		"30s":           30 * time.Second,
		"15m":           15 * time.Minute,
		"24h":           day,
		"7d":            7 * day,
		" 7d ":          7 * day,
		"1d12h":         day + 12*time.Hour,
		"1.5d":          36 * time.Hour,
		"0":             0,
		"0d":            0,
		"+2h":           2 * time.Hour,
		"100ms":         100 * time.Millisecond,
		"":              -1,
		"d":             -1,
		"7":             -1,
		"-1d":           -1,
		"-1h":           -1,
		"1d-12h":        -1,
		"1d+12h":        -1,
		"1d1d":          -1,
		"7days":         -1,
		"nand":          -1,
		"infd":          -1,
		"1e300d":        -1,
		"0x1p4d":        -1,
		"1 d":           -1,
		"200000d":       -1, // beyond time.Duration
		"106751d":       106751 * day,
		"106751d23h59m": -1,
	}
	for in, want := range cases {
		got, err := ParseDuration(in)
		if want < 0 {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 90 * time.Minute, 24 * time.Hour, 7 * 24 * time.Hour, 36 * time.Hour, math.MaxInt64} {
		s := Duration(d).String()
		back, err := ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("round trip of %v via %q: %v, %v", d, s, back, err)
		}
	}
	if got := Duration(7 * 24 * time.Hour).String(); got != "7d" {
		t.Errorf("7 days = %q", got)
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"500MiB", "1.5GB", "4096", "-1k", "", "1e9", ".5t", "9999999999999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseByteSize(%q) = %d < 0", s, b)
		}
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Fatalf("ParseByteSize(%q) = %d; String %q reads back as %d, %v", s, b, b.String(), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "30s", "-1h", "1.5d", "nand"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v < 0", s, d)
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; String %q reads back as %v, %v", s, d, Duration(d).String(), back, err)
		}
	})
}
