package config

import (
	"fmt"
	"math"
	"net/netip"
)

// Analyze holds the settings of `pbxagent analyze` and of the analysis every
// bundle carries: who is who in a capture, and when media is poor.
type Analyze struct {
	// PBXAddresses are the PBX's own addresses as seen in captures, e.g. its
	// public address behind 1:1 NAT. A bundle's analysis adds them to the
	// host's interface addresses; a bare capture uses them instead of
	// placing the PBX from the SIP evidence.
	PBXAddresses []string `yaml:"pbx_addresses"`
	// TrunkAddresses are the SIP trunks' (providers') addresses: a peer at
	// one of them is a trunk whatever the heuristics say.
	TrunkAddresses []string `yaml:"trunk_addresses"`
	// SBCRTPRange is the PortSIP SBC's RTP port range, e.g. "25000-34999".
	SBCRTPRange string `yaml:"sbc_rtp_range"`
	// Quality holds the thresholds of the media findings.
	Quality Quality `yaml:"quality"`
}

// Quality are the levels at which the analysis reports poor media.
type Quality struct {
	// LossWarnPercent is the packet loss of a warning, LossInfoPercent
	// that of a note.
	LossWarnPercent float64 `yaml:"loss_warn_percent"`
	LossInfoPercent float64 `yaml:"loss_info_percent"`
	// JitterWarnMs is the maximum RFC 3550 jitter of a warning.
	JitterWarnMs float64 `yaml:"jitter_warn_ms"`
	// MOSWarn is the E-model MOS below which a call's audio is poor.
	MOSWarn float64 `yaml:"mos_warn"`
}

// Defaults of the analysis settings.
var defaultAnalyze = Analyze{SBCRTPRange: "25000-34999",
	Quality: Quality{LossWarnPercent: 3, LossInfoPercent: 1, JitterWarnMs: 30, MOSWarn: 3.6}}

// ParseAddresses parses a list of IP addresses.
func ParseAddresses(list []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range list {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address; use a form such as 203.0.113.10 or 2001:db8::10", s)
		}
		out = append(out, ip.Unmap())
	}
	return out, nil
}

// validateAnalyze checks the analysis settings.
func validateAnalyze(a Analyze, add func(key, format string, args ...any)) {
	addrs := func(key string, list []string) {
		for i, s := range list {
			if _, err := ParseAddresses([]string{s}); err != nil {
				add(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			}
		}
	}
	addrs("analyze.pbx_addresses", a.PBXAddresses)
	addrs("analyze.trunk_addresses", a.TrunkAddresses)
	if _, _, err := ParsePortRange(a.SBCRTPRange); err != nil {
		add("analyze.sbc_rtp_range", "%v", err)
	}
	q := a.Quality
	percent := func(key string, v float64) {
		if math.IsNaN(v) || v <= 0 || v > 100 {
			add(key, "must be a percentage above 0 and at most 100, not %v", v)
		}
	}
	percent("analyze.quality.loss_warn_percent", q.LossWarnPercent)
	percent("analyze.quality.loss_info_percent", q.LossInfoPercent)
	if q.LossInfoPercent > q.LossWarnPercent {
		add("analyze.quality.loss_info_percent", "must not be above loss_warn_percent (%v), not %v", q.LossWarnPercent, q.LossInfoPercent)
	}
	if math.IsNaN(q.JitterWarnMs) || q.JitterWarnMs <= 0 || q.JitterWarnMs > 10000 {
		add("analyze.quality.jitter_warn_ms", "must be above 0 and at most 10000 milliseconds, not %v", q.JitterWarnMs)
	}
	if math.IsNaN(q.MOSWarn) || q.MOSWarn < 1 || q.MOSWarn > 4.5 {
		add("analyze.quality.mos_warn", "must be a MOS from 1 to 4.5 (3.6 is \"many users dissatisfied\"), not %v", q.MOSWarn)
	}
}
