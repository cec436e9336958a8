package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

func TestForwardedBy(t *testing.T) {
	src := netip.MustParseAddr("203.0.113.10")
	v6 := netip.MustParseAddr("2001:db8::10")
	req := func(via []string, rr string) *decode.SIPMessage {
		m := &decode.SIPMessage{Method: "INVITE", Via: via, Headers: map[string][]string{}}
		if rr != "" {
			m.Headers["Record-Route"] = []string{rr}
		}
		return m
	}
	own := "SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK1"
	phone := "SIP/2.0/UDP 198.51.100.20:5062;rport;branch=z9hG4bK2"
	cases := []struct {
		name string
		src  netip.Addr
		m    *decode.SIPMessage
		want string
	}{
		{"own via over another", src, req([]string{own, phone}, ""), "Via"},
		{"own via alone (it sent it)", src, req([]string{own}, ""), ""},
		{"another's via on top (NAT)", src, req([]string{phone, own}, ""), ""},
		{"via without port", src, req([]string{"SIP/2.0/TCP 203.0.113.10;branch=z9hG4bK1", phone}, ""), "Via"},
		{"via with a host name", src, req([]string{"SIP/2.0/UDP pbx.example.com;branch=z9hG4bK1", phone}, ""), ""},
		{"own record-route", src, req([]string{own}, "<sip:203.0.113.10;lr>"), "Record-Route"},
		{"record-route list, own on top", src, req([]string{own}, "<sip:203.0.113.10:5060;transport=udp;lr>, <sip:192.0.2.1;lr>"), "Record-Route"},
		{"record-route with user part", src, req([]string{own}, "<sip:proxy@203.0.113.10;lr>"), "Record-Route"},
		{"sips record-route", src, req([]string{own}, "<sips:203.0.113.10:5061;lr>"), "Record-Route"},
		{"another's record-route", src, req([]string{own}, "<sip:192.0.2.1;lr>"), ""},
		{"ipv6 via", v6, req([]string{"SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK1", phone}, ""), "Via"},
		{"ipv6 record-route", v6, req([]string{phone}, "<sip:[2001:db8::10];lr>"), "Record-Route"},
		{"garbage", src, req([]string{"SIP/2.0/UDP", ""}, "<sip:"), ""},
		{"response", src, &decode.SIPMessage{Status: 200, Via: []string{own, phone}}, ""},
	}
	for _, c := range cases {
		if got := forwardedBy(c.src, c.m); got != c.want {
			t.Errorf("%s: forwardedBy = %q, want %q", c.name, got, c.want)
		}
	}
}

// A proxy forwarding requests under its own Via is the PBX when nothing
// else places one.
func TestPlacePBXAsProxyByVia(t *testing.T) {
	s := newSim(t)
	s.add(decode.Event{Src: extAddr, Dst: pbxAddr, SIP: &decode.SIPMessage{Method: "MESSAGE", RequestURI: "sip:2001@pbx.example.com",
		CallID: "m1", CSeqNum: 1, CSeqMethod: "MESSAGE", FromTag: "a1",
		Via: []string{"SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKm1"}, Headers: map[string][]string{}}})
	s.add(decode.Event{Src: pbxAddr, Dst: trunkAddr, SIP: &decode.SIPMessage{Method: "MESSAGE", RequestURI: "sip:2001@192.0.2.30",
		CallID: "m1", CSeqNum: 1, CSeqMethod: "MESSAGE", FromTag: "a1",
		Via:     []string{"SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKp1", "SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKm1"},
		Headers: map[string][]string{}}})
	r := s.report(Options{}, nil)
	notes := strings.Join(r.Notes, " ")
	if strings.Join(r.PBX, ",") != "203.0.113.10" || !strings.Contains(notes, "it forwards requests under its own Via header (a proxy; 1 request)") {
		t.Fatalf("PBX %v, notes %v", r.PBX, r.Notes)
	}
}

// Two addresses relay INVITEs (a proxy and a back-to-back agent behind
// it); the one inserting its Record-Route is the PBX.
func TestPlacePBXAsProxyByRecordRoute(t *testing.T) {
	s := newSim(t)
	far := netip.MustParseAddrPort("192.0.2.40:5060")
	s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:5551234@pbx.example.com", callID: "r1", cseq: 1})
	fwd := &decode.SIPMessage{Method: "INVITE", RequestURI: "sip:5551234@192.0.2.30", CallID: "r1", CSeqNum: 1, CSeqMethod: "INVITE",
		FromTag: "a1", Via: []string{"SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKr1", "SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bK1"},
		Headers: map[string][]string{"Record-Route": {"<sip:203.0.113.10;lr>"}}}
	// The Via alone would do; drop the phone's so that only the
	// Record-Route speaks.
	fwd.Via = fwd.Via[:1]
	s.add(decode.Event{Src: pbxAddr, Dst: trunkAddr, SIP: fwd})
	out := s.request(trunkAddr, far, sipReq{method: "INVITE", ruri: "sip:5551234@192.0.2.40", callID: "r1-b", cseq: 1})
	s.respond(far, trunkAddr, out, 503, "Service Unavailable", "f1", nil)
	r := s.report(Options{}, nil)
	notes := strings.Join(r.Notes, " ")
	if strings.Join(r.PBX, ",") != "203.0.113.10" || !strings.Contains(notes, "of the addresses relaying INVITEs, it alone forwards requests under its own Record-Route header") {
		t.Fatalf("PBX %v, notes %v", r.PBX, r.Notes)
	}
	// Without the Record-Route neither relay is told apart: unplaced.
	s2 := newSim(t)
	s2.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:5551234@pbx.example.com", callID: "r1", cseq: 1})
	s2.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:5551234@192.0.2.30", callID: "r1-a", cseq: 1})
	s2.request(trunkAddr, far, sipReq{method: "INVITE", ruri: "sip:5551234@192.0.2.40", callID: "r1-b", cseq: 1})
	r = s2.report(Options{}, nil)
	if len(r.PBX) != 0 || !strings.Contains(strings.Join(r.Notes, " "), "2 addresses relay INVITEs") {
		t.Fatalf("no proxy evidence: PBX %v, notes %v", r.PBX, r.Notes)
	}
}
