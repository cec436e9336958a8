package analyze

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/capture"
)

func TestParseCaptureFilter(t *testing.T) {
	def := capture.DefaultFilter()
	noRTP := def
	noRTP.NoRTP = true
	all := def
	all.All, all.Hosts = true, []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	for _, c := range []struct {
		name       string
		expr       string
		kept, left []int
		every      bool
	}{
		{name: "default", expr: def.String(), kept: []int{5060, 5067, 45000, 65000}, left: []int{12000, 25000, 44999, 65001}},
		{name: "no RTP", expr: noRTP.String(), kept: []int{5060}, left: []int{45000, 46000}},
		{name: "all", expr: all.String(), every: true},
		{name: "empty", expr: "", every: true},
		{name: "unknown term", expr: "udp and not port 5060", every: true},
	} {
		s := ParseCaptureFilter(c.expr)
		if c.every != (s == nil) {
			t.Errorf("%s (%q): %+v, every port kept %v", c.name, c.expr, s, c.every)
		}
		for _, p := range c.kept {
			if !s.Has(p) {
				t.Errorf("%s (%q): port %d not kept", c.name, c.expr, p)
			}
		}
		for _, p := range c.left {
			if s.Has(p) {
				t.Errorf("%s (%q): port %d kept", c.name, c.expr, p)
			}
		}
	}
}

// Audio on ports the capture's filter left out is not checked, and the
// report says so instead of "no audio"; audio in the captured range is
// judged as before.
func TestAudioOutsideCapturedPorts(t *testing.T) {
	s := newSim(t)
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx", callID: "out-of-filter", cseq: 1, sdp: sdpFor("198.51.100.20", 12000)})
	s.respond(pbxAddr, extAddr, inv, 200, "OK", "p1", sdpFor("203.0.113.10", 13000))
	inv = s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1003@pbx", callID: "in-filter", cseq: 1, sdp: sdpFor("198.51.100.20", 46000)})
	s.respond(pbxAddr, extAddr, inv, 200, "OK", "p2", sdpFor("203.0.113.10", 47000))
	s.rtp("198.51.100.20:46000", "203.0.113.10:47000", 7, 100*time.Millisecond, 100, nil)
	s.at(3 * time.Second)
	opt := pbxOpt()
	opt.CapturedPorts = ParseCaptureFilter(capture.DefaultFilter().String())
	r := s.report(opt, nil)
	f := finding(t, r, codeNotCaptured)
	if f.Severity != Info || len(f.CallIDs) != 1 || f.CallIDs[0] != "out-of-filter" {
		t.Fatalf("finding %+v", f)
	}
	contains(t, codeNotCaptured, f.Detail, "198.51.100.20:12000, 203.0.113.10:13000")
	ow := finding(t, r, "one-way-audio")
	if len(ow.CallIDs) != 1 || ow.CallIDs[0] != "in-filter" {
		t.Fatalf("one-way-audio %+v", ow)
	}
	for _, f := range r.Findings {
		if f.Code == "no-audio" || strings.HasPrefix(f.Code, "no-rtp") {
			t.Errorf("%s although the audio was not captured: %s", f.Code, f.Title)
		}
	}
	// Without the filter (a bare capture) the same call has no audio.
	opt.CapturedPorts = nil
	if f := finding(t, s.report(opt, nil), "no-audio"); len(f.CallIDs) != 1 || f.CallIDs[0] != "out-of-filter" {
		t.Fatalf("no-audio %+v", f)
	}
}

// A bundle taken with --no-rtp holds no RTP at all: its answered calls'
// audio was not checked, which is what the report says.
func TestNoRTPCapturedByFilter(t *testing.T) {
	s := newSim(t)
	answeredCall(s, false, false)
	f := capture.DefaultFilter()
	f.NoRTP = true
	opt := pbxOpt()
	opt.CapturedPorts = ParseCaptureFilter(f.String())
	// One finding per direction: the extension's leg and the trunk's.
	onlyFindings(t, s.report(opt, nil), codeNotCaptured, codeNotCaptured)
	opt.CapturedPorts = nil
	onlyFindings(t, s.report(opt, nil), "no-rtp-captured")
}

func TestReadCaptureFilter(t *testing.T) {
	for _, c := range []struct {
		manifest string
		all      bool
	}{
		{`{"sections":{"capture":{"filter":"(udp and portrange 45000-65000)"}}}`, false},
		{`{"sections":{"capture":{"filter":"(udp and portrange 45000-65000)"},"recorder":{"packets":3}}}`, true},
		{`{"sections":{}}`, true},
		{`not json`, true},
	} {
		var opt Options
		if err := readCaptureFilter(strings.NewReader(c.manifest), &opt); err != nil {
			t.Fatal(err)
		}
		if (opt.CapturedPorts == nil) != c.all {
			t.Errorf("%s: captured ports %+v, want every port %v", c.manifest, opt.CapturedPorts, c.all)
		}
	}
}
