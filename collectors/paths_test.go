package collectors

import (
	"strings"
	"testing"
)

// TestRemediesUseConfiguredPaths: a PBX installed elsewhere is told its own
// folders, not the stock /opt/portsip and /var/lib/portsip.
func TestRemediesUseConfiguredPaths(t *testing.T) {
	p := PBXPaths{InstallDir: "/srv/portsip", LogDir: "/data/pbx/log"}
	for name, adv := range map[string]string{
		"gateway down": p.gatewayDownAdvice(), "disk full": p.diskFullAdvice(), "not listening": p.notListeningAdvice(),
	} {
		if !strings.Contains(adv, "cd /srv/portsip && sh pbx_ctl.sh") {
			t.Errorf("%s: no configured install folder: %s", name, adv)
		}
		if strings.Contains(adv, "/opt/portsip") || strings.Contains(adv, "/var/lib/portsip") {
			t.Errorf("%s: a stock path: %s", name, adv)
		}
	}
	if adv := p.gatewayDownAdvice(); !strings.Contains(adv, "/data/pbx/log") {
		t.Errorf("gateway advice lacks the log folder: %s", adv)
	}
	l := &LogCheck{Paths: p}
	if adv := l.advice(LogsData{Stale: true}); !strings.Contains(adv, "/srv/portsip") && !strings.Contains(adv, "services.msc") {
		t.Errorf("log advice: %s", adv)
	}
	if adv := (PBXPaths{}).ctl("status"); adv != "cd /opt/portsip && sh pbx_ctl.sh status" {
		t.Errorf("default: %s", adv)
	}
}
