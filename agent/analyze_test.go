package agent

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/pbxagent/pbxagent/analyze"
	"github.com/pbxagent/pbxagent/config"
)

// The analysis takes the PBX and trunk addresses, the RTP ranges and the
// quality thresholds from the configuration.
func TestAnalyzeOptionsFromConfig(t *testing.T) {
	a, _ := testAgent(t)
	a.cfg.PBX.SIPPorts = []int{5070}
	a.cfg.PBX.RTPRange = "40000-40999"
	a.cfg.Analyze = config.Analyze{
		PBXAddresses:   []string{"198.51.100.99"},
		TrunkAddresses: []string{"192.0.2.30", "2001:db8::30"},
		SBCRTPRange:    "20000-20999",
		Quality:        config.Quality{LossWarnPercent: 4, LossInfoPercent: 2, JitterWarnMs: 50, MOSWarn: 3.1},
	}
	if ps := a.cfg.Validate(); len(ps) != 0 {
		t.Fatalf("config: %v", ps)
	}
	got := a.AnalyzeOptions()
	want := analyze.Options{
		PBX:      []netip.Addr{netip.MustParseAddr("198.51.100.99")},
		SIPPorts: []int{5070}, RTPLow: 40000, RTPHigh: 40999, SBCRTPLow: 20000, SBCRTPHigh: 20999,
		Trunks:  []netip.Addr{netip.MustParseAddr("192.0.2.30"), netip.MustParseAddr("2001:db8::30")},
		Quality: analyze.Thresholds{LossWarnPercent: 4, LossInfoPercent: 2, JitterWarnMs: 50, MOSWarn: 3.1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("options\n got %+v\nwant %+v", got, want)
	}
}
