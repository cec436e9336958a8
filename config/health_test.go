package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateHealth(t *testing.T) {
	c := Default()
	if ps := c.Validate(); len(ps) != 0 {
		t.Fatalf("defaults: %v", ps)
	}
	ck := &c.Checks
	ck.Licence.WarningRatio, ck.Licence.CriticalRatio = 0.95, 0.8
	ck.Licence.ExpiryWarning = Duration(24 * time.Hour)
	ck.Certificates.Ports = []int{0, 8887}
	ck.Certificates.Warning = Duration(time.Hour)
	ck.Trunks.MaxStatusPerRound = 0
	ck.Media.OverloadPercent = 150
	ck.CallFailures.Window = Duration(time.Second)
	ck.CallFailures.MinFailures = 0
	ck.CallFailures.MinPercent = 0
	ck.CallFailures.MaxPagesPerRound = 0
	ck.CallFailures.UnmaskedDigits = -1
	var keys []string
	for _, p := range c.Validate() {
		keys = append(keys, p.Key)
	}
	got := strings.Join(keys, " ")
	for _, want := range []string{"checks.licence.warning_ratio", "checks.licence.expiry_warning", "checks.certificates.ports",
		"checks.certificates.warning", "checks.trunks.max_status_per_round", "checks.media.overload_percent",
		"checks.call_failures.window", "checks.call_failures.min_failures", "checks.call_failures.min_percent",
		"checks.call_failures.max_pages_per_round", "checks.call_failures.unmasked_digits"} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem for %s in %s", want, got)
		}
	}
}
