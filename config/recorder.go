package config

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Recorder configures the flight recorder of `pbxagent run`: a bounded ring
// of packet capture segments in the state folder, so a bundle can hold the
// SIP of a failure that already happened (`pbxagent bundle --last 15m`).
type Recorder struct {
	// Enabled turns the recorder on where packet capture is possible.
	Enabled bool `yaml:"enabled"`
	// Dir is the ring's own folder; empty means <state_dir>/recorder.
	Dir string `yaml:"dir"`
	// MaxSize caps the ring's bytes on disk; the ring also stays below the
	// disk watcher's warning level and above the bundle reserve.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxAge deletes segments older than this.
	MaxAge Duration `yaml:"max_age"`
	// SegmentDuration and SegmentSize end a segment, whichever comes first.
	SegmentDuration Duration `yaml:"segment_duration"`
	SegmentSize     ByteSize `yaml:"segment_size"`
	// RTPPayload keeps RTP audio; by default only RTP headers are kept
	// (loss, jitter and timing stay measurable, no audio at rest).
	RTPPayload bool `yaml:"rtp_payload"`
	// Interfaces to capture on; empty means every interface that is up.
	Interfaces []string `yaml:"interfaces"`
	// AutoBundle takes a bundle of the recorder's past when an alert fires.
	AutoBundle AutoBundle `yaml:"auto_bundle"`
	// HEP receives the PBX's own SIP trace feed (PortSIP's Trace Server
	// setting) into the ring.
	HEP RecorderHEP `yaml:"hep"`
}

// RecorderHEP configures the HEP (Homer Encapsulation Protocol) receiver:
// each message becomes a packet with its original addresses, ports,
// transport and time on the ring's pcapng interface "hep", so SIP over TLS
// and WSS is readable without keys.
type RecorderHEP struct {
	// Enabled turns the receiver on (default off).
	Enabled bool `yaml:"enabled"`
	// Listen is the TCP and UDP address for SIP (PortSIP sends to TCP 9061).
	Listen string `yaml:"listen"`
	// RTCPListen is the UDP address for RTCP (PortSIP sends to UDP 9060);
	// empty turns it off.
	RTCPListen string `yaml:"rtcp_listen"`
	// Allow lists the addresses or networks (CIDR) whose messages are taken.
	Allow []string `yaml:"allow"`
	// AuthKey, when set, is the HEP auth key every message must carry.
	AuthKey Secret `yaml:"auth_key"`
	// ForwardTo, when set (udp://host:port or tcp://host:port), receives a
	// copy of every accepted message, unchanged (an upstream HOMER server).
	ForwardTo string `yaml:"forward_to"`
}

func defaultRecorderHEP() RecorderHEP {
	return RecorderHEP{Listen: "127.0.0.1:9061", RTCPListen: "127.0.0.1:9060", Allow: []string{"127.0.0.0/8", "::1/128"}}
}

// AllowPrefixes parses Allow; validation has checked every entry.
func (h RecorderHEP) AllowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range h.Allow {
		if p, err := parsePrefix(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func defaultRecorder() Recorder {
	return Recorder{
		Enabled:         true,
		MaxSize:         1 * GiB,
		MaxAge:          Duration(24 * time.Hour),
		SegmentDuration: Duration(5 * time.Minute),
		SegmentSize:     64 * MiB,
		AutoBundle:      defaultAutoBundle(),
		HEP:             defaultRecorderHEP(),
	}
}

// RecorderDir returns the effective ring folder.
func (c *Config) RecorderDir() string {
	if c.Recorder.Dir != "" {
		return c.Recorder.Dir
	}
	return filepath.Join(c.Agent.StateDir, "recorder")
}

func (c *Config) validateRecorder(goos string, add func(key, format string, args ...any)) {
	r := c.Recorder
	if r.Dir != "" && !isAbs(goos, r.Dir) {
		add("recorder.dir", "must be an absolute path, not %q", r.Dir)
	}
	if r.SegmentSize < 64*KiB {
		add("recorder.segment_size", "%s is too small; use at least 64KiB (default 64MiB)", r.SegmentSize)
	}
	if r.MaxSize < 2*r.SegmentSize {
		add("recorder.max_size", "%s must hold at least two segments of recorder.segment_size (%s)", r.MaxSize, r.SegmentSize)
	}
	if r.MaxAge.D() < time.Minute {
		add("recorder.max_age", "%s is too short; use at least 1m (default 24h)", r.MaxAge)
	}
	if r.SegmentDuration.D() < time.Second {
		add("recorder.segment_duration", "%s is too short; use at least 1s (default 5m)", r.SegmentDuration)
	}
	c.validateAutoBundle(goos, add)
	c.validateRecorderHEP(add)
}

// AutoBundle configures the bundles `pbxagent run` takes by itself when
// chosen checks change state: the flight recorder's last Window, kept in
// their own folder under their own limits (never counted against the ring).
type AutoBundle struct {
	// Enabled turns alert-triggered bundles on (where the recorder runs).
	Enabled bool `yaml:"enabled"`
	// Checks names the checks whose change to a problem takes a bundle:
	// "name" for any problem, "name:critical" for critical only. An item
	// of a check (call_failures/…) counts as its check.
	Checks []string `yaml:"checks"`
	// Window is how much of the recorder's past a bundle takes.
	Window Duration `yaml:"window"`
	// Cooldown is the least time between two bundles.
	Cooldown Duration `yaml:"cooldown"`
	// MaxPerDay caps the bundles of one UTC day.
	MaxPerDay int `yaml:"max_per_day"`
	// Dir is the bundles' folder; empty means <state_dir>/auto-bundles.
	Dir string `yaml:"dir"`
	// MaxTotalSize and MaxAge bound that folder, oldest removed first;
	// only bundles proven the agent's are ever removed.
	MaxTotalSize ByteSize `yaml:"max_total_size"`
	MaxAge       Duration `yaml:"max_age"`
}

func defaultAutoBundle() AutoBundle {
	return AutoBundle{
		Enabled:      true,
		Checks:       []string{"gateway", "disk:critical", "call_failures"},
		Window:       Duration(10 * time.Minute),
		Cooldown:     Duration(30 * time.Minute),
		MaxPerDay:    6,
		MaxTotalSize: 2 * GiB,
		MaxAge:       Duration(14 * 24 * time.Hour),
	}
}

// AutoBundleDir returns the effective folder of alert-triggered bundles.
func (c *Config) AutoBundleDir() string {
	if c.Recorder.AutoBundle.Dir != "" {
		return c.Recorder.AutoBundle.Dir
	}
	return filepath.Join(c.Agent.StateDir, "auto-bundles")
}

func (c *Config) validateAutoBundle(goos string, add func(key, format string, args ...any)) {
	ab := c.Recorder.AutoBundle
	if !ab.Enabled {
		return
	}
	if ab.Dir != "" && !isAbs(goos, ab.Dir) {
		add("recorder.auto_bundle.dir", "must be an absolute path, not %q", ab.Dir)
	}
	for _, s := range ab.Checks {
		name, lvl, ok := strings.Cut(s, ":")
		if name == "" || (ok && lvl != "critical" && lvl != "warning") {
			add("recorder.auto_bundle.checks", "%q is not a check name, optionally followed by :warning or :critical (e.g. disk:critical)", s)
		}
	}
	if ab.Window.D() < time.Minute {
		add("recorder.auto_bundle.window", "%s is too short; use at least 1m (default 10m)", ab.Window)
	}
	if ab.MaxPerDay < 1 {
		add("recorder.auto_bundle.max_per_day", "must be at least 1 (default 6); set recorder.auto_bundle.enabled: false to take none")
	}
	if ab.Cooldown.D() < 0 {
		add("recorder.auto_bundle.cooldown", "must not be negative")
	}
}

func (c *Config) validateRecorderHEP(add func(key, format string, args ...any)) {
	h := c.Recorder.HEP
	for _, l := range []struct{ key, addr string }{
		{"recorder.hep.listen", h.Listen}, {"recorder.hep.rtcp_listen", h.RTCPListen},
	} {
		if l.addr == "" && l.key == "recorder.hep.rtcp_listen" {
			continue
		}
		if _, err := netip.ParseAddrPort(l.addr); err != nil {
			add(l.key, "%q is not an IP:port address (e.g. 127.0.0.1:9061): %v", l.addr, err)
		}
	}
	for _, a := range h.Allow {
		if _, err := parsePrefix(a); err != nil {
			add("recorder.hep.allow", "%q is not an address or CIDR network (e.g. 127.0.0.0/8)", a)
		}
	}
	if h.Enabled && len(h.Allow) == 0 {
		add("recorder.hep.allow", "is empty, so every message would be refused; list the PBX's address (default 127.0.0.0/8)")
	}
	if f := h.ForwardTo; f != "" {
		scheme, hostport, ok := strings.Cut(f, "://")
		_, _, err := net.SplitHostPort(hostport)
		if !ok || (scheme != "udp" && scheme != "tcp") || err != nil {
			add("recorder.hep.forward_to", "%q must be udp://host:port or tcp://host:port", f)
		}
	}
}
