package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/collectors"
)

// TestNagiosEveryCombination runs every combination of the four states
// present among the checks (plus a check that is not applicable) and checks
// the exit code against the table a Nagios administrator expects.
func TestNagiosEveryCombination(t *testing.T) {
	// Bit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a failed check).
	want := [16]int{
		0b0000: 0, 0b0001: 0, 0b0010: 1, 0b0011: 1,
		0b0100: 2, 0b0101: 2, 0b0110: 2, 0b0111: 2,
		0b1000: 3, 0b1001: 3, 0b1010: 3, 0b1011: 3,
		0b1100: 2, 0b1101: 2, 0b1110: 2, 0b1111: 2,
	}
	perfRE := regexp.MustCompile(`^PBXAGENT (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+ \| ('[a-z_]+'=[0-3];1;2;0;3 ?)*$`)
	for mask := range 16 {
		outs := []collectors.Outcome{{Name: "containers", NoData: true, Err: collectors.ErrNoData}}
		for bit, s := range []collectors.State{collectors.StateOK, collectors.StateWarning, collectors.StateCritical, collectors.StateUnknown} {
			if mask&(1<<bit) == 0 {
				continue
			}
			name := strings.ToLower(s.String()) + "_check"
			if s == collectors.StateUnknown {
				outs = append(outs, collectors.Outcome{Name: name, Err: errors.New("timeout | x\ny"), Error: "timeout"})
			} else {
				outs = append(outs, collectors.Outcome{Name: name, Report: &collectors.Report{State: s, Summary: "summary"}})
			}
		}
		code, line := nagiosResult(outs)
		if code != want[mask] {
			t.Errorf("states %04b: exit %d, want %d (%s)", mask, code, want[mask], line)
		}
		if strings.Count(line, "\n") != 0 || strings.Count(line, "|") != 1 || !perfRE.MatchString(line) {
			t.Errorf("states %04b: not one plugin line: %q", mask, line)
		}
		if n := strings.Count(line, "="); n != popcount(mask) {
			t.Errorf("states %04b: %d perfdata values, want %d", mask, n, popcount(mask))
		}
		if strings.Contains(line, "containers") {
			t.Errorf("a check that is not applicable is reported: %s", line)
		}
	}
	_, line := nagiosResult([]collectors.Outcome{{Name: "disk", Report: &collectors.Report{State: collectors.StateOK}}})
	if line != "PBXAGENT OK - all 1 checks OK | 'disk'=0;1;2;0;3" {
		t.Errorf("all OK line %q", line)
	}
}

func popcount(m int) int { return strings.Count(fmt.Sprintf("%b", m), "1") }

// TestNagiosConfigErrorIsUnknown: a plugin that cannot run reports UNKNOWN
// (3) on stdout, not the usual exit 2, which Nagios reads as CRITICAL.
func TestNagiosConfigErrorIsUnknown(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/bad.yaml"
	if err := os.WriteFile(cfg, []byte("checks:\n  interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"status", "--nagios", "--config", cfg}, &out, &errb)
	if code != 3 || !strings.HasPrefix(out.String(), "PBXAGENT UNKNOWN - ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"status", "--config", cfg}, &out, &errb); code != exitUsage {
		t.Errorf("without --nagios: exit %d, want %d", code, exitUsage)
	}
}
