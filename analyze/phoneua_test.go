package analyze

import (
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

func TestPhoneAgent(t *testing.T) {
	for _, c := range []struct {
		uas  []string
		want string
	}{
		{[]string{"Yealink SIP-T46U 66.86.0.15"}, "Yealink SIP-T46U 66.86.0.15"},
		{[]string{"Carrier SBC 4.2", "Grandstream GXP2170 1.0.11.6"}, "Grandstream GXP2170 1.0.11.6"},
		{[]string{"  snom D785/10.1.73.16"}, "  snom D785/10.1.73.16"},
		{[]string{"Cisco-SIPGateway/IOS-16.12"}, ""},
		{[]string{"PortSIP PBX 22.3"}, ""},
		{[]string{"Sonus SBC", "friendly-scanner"}, ""},
		{nil, ""},
	} {
		if got := phoneAgent(c.uas); got != c.want {
			t.Errorf("phoneAgent(%q) = %q, want %q", c.uas, got, c.want)
		}
	}
}

// The PBX calls a phone that registered before the capture began: the
// phone's Server header makes it an extension, not a trunk, and the call
// says which rule decided.
func TestPBXCallsPhoneWithoutRegister(t *testing.T) {
	s := newSim(t)
	inv := s.request(pbxAddr, extAddr, sipReq{method: "INVITE", ruri: "sip:1001@10.0.0.20", callID: "out1", cseq: 1, ua: "PortSIP PBX 22.3"})
	s.add(decode.Event{Src: extAddr, Dst: pbxAddr, SIP: &decode.SIPMessage{Status: 200, Reason: "OK", CallID: inv.CallID, From: inv.From,
		To: inv.To, ToTag: "ph1", CSeqNum: inv.CSeqNum, CSeqMethod: inv.CSeqMethod, Via: inv.Via, Headers: map[string][]string{},
		UserAgent: "Yealink SIP-T46U 66.86.0.15"}})
	r := s.report(Options{}, nil)
	c := r.Calls[0]
	if c.Direction != dirPBXToExt || !strings.Contains(c.RoleRule, "as a phone (User-Agent Yealink SIP-T46U 66.86.0.15)") {
		t.Fatalf("call %+v, peers %+v", c, r.Peers)
	}
	// Without a phone's name the same call goes to a trunk.
	s = newSim(t)
	inv = s.request(pbxAddr, extAddr, sipReq{method: "INVITE", ruri: "sip:1001@10.0.0.20", callID: "out2", cseq: 1, ua: "PortSIP PBX 22.3"})
	s.respond(extAddr, pbxAddr, inv, 200, "OK", "ph2", nil)
	if r := s.report(Options{}, nil); r.Calls[0].Direction != dirPBXToTrunk {
		t.Fatalf("call %+v", r.Calls[0])
	}
}
