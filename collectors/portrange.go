package collectors

import (
	"fmt"
	"strconv"
	"strings"
)

// parsePortRange parses "45000-65000" (or a single port "5060") into its
// inclusive bounds. Spaces around the numbers are allowed.
func parsePortRange(s string) (first, last int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, fmt.Errorf("empty port range")
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if first, err = parsePort(lo); err != nil {
		return 0, 0, fmt.Errorf("port range %q: %w", s, err)
	}
	if !isRange {
		return first, first, nil
	}
	if last, err = parsePort(hi); err != nil {
		return 0, 0, fmt.Errorf("port range %q: %w", s, err)
	}
	if first > last {
		return 0, 0, fmt.Errorf("port range %q: first port is above last", s)
	}
	return first, last, nil
}

func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad port %q", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q out of range 1-65535", s)
	}
	return n, nil
}
