package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Byte size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

// ByteSize is a number of bytes written as "500MiB", "1.5GB", "4096".
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseByteSize parses a size such as "500MiB", "2GB", "64k" or "1024".
// Binary (KiB) and decimal (KB) units are accepted; bare K/M/G are binary.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty size: use a number with a unit, e.g. 500MiB")
	}
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			mult = u.mult
			break
		}
	}
	if strings.HasPrefix(t, "-") && isDecimal(t[1:]) {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	if !isDecimal(t) {
		return 0, fmt.Errorf("invalid size %q: use a number with a unit, e.g. 500MiB or 2GB", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q: use a number with a unit, e.g. 500MiB or 2GB", s)
	}
	v := math.Round(f * mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(v), nil
}

// isDecimal reports whether s is an unsigned decimal number such as "12",
// "1.5" or ".5" (no sign, exponent, hex or underscores).
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// String formats the size with a binary unit, e.g. "500MiB".
func (b ByteSize) String() string {
	v := int64(b)
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.m && v%u.m == 0 {
			return strconv.FormatInt(v/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(v, 10) + "B"
}

// Human formats the size rounded for people, e.g. "1.4 GiB".
func (b ByteSize) Human() string { return HumanBytes(int64(b)) }

// HumanBytes formats n bytes rounded for people, e.g. "1.4 GiB".
func HumanBytes(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	var s string
	if i == 0 {
		s = fmt.Sprintf("%d B", n)
	} else {
		s = fmt.Sprintf("%.1f %s", f, units[i])
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalText writes the size in its canonical form.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(p []byte) error {
	v, err := ParseByteSize(string(p))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Set implements pflag.Value so a ByteSize can be a command-line flag.
func (b *ByteSize) Set(s string) error { return b.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (b *ByteSize) Type() string { return "size" }

// Duration is a time.Duration written as "30s", "24h" or "7d".
type Duration time.Duration

// maxDays is the largest whole number of days a time.Duration holds.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// ParseDuration parses Go durations plus a "d" (day) unit, e.g. "7d", "1d12h".
// Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration: use e.g. 30s, 15m, 24h or 7d")
	}
	invalid := fmt.Errorf("invalid duration %q: use e.g. 30s, 15m, 24h or 7d", s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	t = strings.TrimPrefix(t, "+")
	var d time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		if !isDecimal(t[:i]) {
			return 0, invalid
		}
		f, err := strconv.ParseFloat(t[:i], 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, invalid
		}
		if f > float64(maxDays) {
			return 0, fmt.Errorf("invalid duration %q: too large", s)
		}
		d = time.Duration(f * float64(24*time.Hour))
		t = t[i+1:]
		if t == "" {
			return d, nil
		}
		if t[0] == '+' || t[0] == '-' {
			return 0, invalid
		}
	}
	rest, err := time.ParseDuration(t)
	if err != nil {
		if strings.Contains(err.Error(), "missing unit") {
			return 0, fmt.Errorf("invalid duration %q: add a unit, e.g. 30s, 15m, 24h or 7d", s)
		}
		return 0, invalid
	}
	if rest < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	if rest > math.MaxInt64-d {
		return 0, fmt.Errorf("invalid duration %q: too large", s)
	}
	return d + rest, nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration with days and without zero minutes or
// seconds, e.g. "7d", "1d12h", "90m" → "1h30m".
func (d Duration) String() string {
	td := time.Duration(d)
	const day = 24 * time.Hour
	if td >= day {
		s := strconv.FormatInt(int64(td/day), 10) + "d"
		if rem := td % day; rem != 0 {
			s += trimZeroUnits(rem.String())
		}
		return s
	}
	return trimZeroUnits(td.String())
}

// trimZeroUnits turns "12h0m0s" into "12h" and "5m0s" into "5m".
func trimZeroUnits(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText writes the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration.
func (d *Duration) UnmarshalText(p []byte) error {
	v, err := ParseDuration(string(p))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Set implements pflag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }
