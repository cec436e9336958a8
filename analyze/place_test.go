package analyze

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// Without a PBX address the PBX is placed from evidence, not from which
// address is lowest or busiest.
func TestPlacePBXFromEvidence(t *testing.T) {
	// The trunk (192.0.2.30, the lower address, in more dialogs) answers
	// 403; the PBX says it is PortSIP in its User-Agent.
	s := newSim(t)
	for i, id := range []string{"o1", "o2"} {
		inv := s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:00441234@192.0.2.30", callID: id, cseq: uint32(i + 1), ua: "PortSIP PBX 22.1"})
		s.respond(trunkAddr, pbxAddr, inv, 403, "Forbidden", "t1", nil)
	}
	s.request(trunkAddr, pbxAddr, sipReq{method: "OPTIONS", ruri: "sip:pbx", callID: "opt1", cseq: 1})
	r := s.report(Options{}, nil)
	if len(r.PBX) != 1 || r.PBX[0] != "203.0.113.10" {
		t.Fatalf("PBX %v, notes %v", r.PBX, r.Notes)
	}
	f := finding(t, r, "sip-403")
	contains(t, "sip-403", f.Title, "from the trunk")
	if !strings.Contains(strings.Join(r.Notes, " "), "PortSIP PBX 22.1") {
		t.Errorf("notes %v do not name the evidence", r.Notes)
	}
}

func TestPlacePBXAsBackToBackAgent(t *testing.T) {
	s := newSim(t)
	in := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:5551234@pbx.example.com", callID: "b1", cseq: 1, ua: "Yealink"})
	out := s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:5551234@192.0.2.30", callID: "b1-t", cseq: 1, ua: "MyPBX"})
	s.respond(trunkAddr, pbxAddr, out, 503, "Service Unavailable", "t9", nil)
	s.respond(pbxAddr, extAddr, in, 503, "Service Unavailable", "p9", nil)
	r := s.report(Options{}, nil)
	if len(r.PBX) != 1 || r.PBX[0] != "203.0.113.10" || !strings.Contains(strings.Join(r.Notes, " "), "back-to-back") {
		t.Fatalf("PBX %v, notes %v", r.PBX, r.Notes)
	}
}

func TestPBXNotPlaced(t *testing.T) {
	s := newSim(t)
	a, b := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("192.0.2.2:5060")
	inv := s.request(a, b, sipReq{method: "INVITE", ruri: "sip:2@192.0.2.2", callID: "p2p", cseq: 1})
	s.respond(b, a, inv, 488, "Not Acceptable Here", "x", nil)
	r := s.report(Options{}, nil)
	if len(r.PBX) != 0 || !strings.Contains(strings.Join(r.Notes, " "), "could not be placed") {
		t.Fatalf("PBX %v, notes %v", r.PBX, r.Notes)
	}
	for _, f := range r.Findings {
		if strings.Contains(f.Title+f.Detail, "the PBX") {
			t.Errorf("finding speaks of the PBX although none was placed: %s: %s", f.Title, f.Detail)
		}
	}
}

// A configured trunk address outranks the heuristics (an authenticating
// trunk would otherwise look like an extension); each call names the rule.
func TestConfiguredTrunkRule(t *testing.T) {
	s := newSim(t)
	inv := s.request(trunkAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:3001@pbx.example.com", callID: "in1", cseq: 1, auth: true})
	s.respond(pbxAddr, trunkAddr, inv, 404, "Not Found", "p1", nil)
	opt := pbxOpt()
	r := s.report(opt, nil)
	if r.Calls[0].Direction != dirExtToPBX || !strings.Contains(r.Calls[0].RoleRule, "authenticates") {
		t.Fatalf("heuristic: %+v", r.Calls[0])
	}
	opt.Trunks = []netip.Addr{trunkAddr.Addr()}
	r = s.report(opt, nil)
	if r.Calls[0].Direction != dirTrunkToPBX || r.Calls[0].RoleRule != "192.0.2.30 trunk: a configured trunk address" {
		t.Fatalf("configured: %+v", r.Calls[0])
	}
}

// An INVITE answered by ICMP port unreachable: the error is a rung of the
// call's ladder, and the call counts as failed.
func TestICMPInCallLadder(t *testing.T) {
	s := newSim(t)
	s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:5551234@192.0.2.30", callID: "icmp1", cseq: 1})
	s.add(decode.Event{Src: netip.AddrPortFrom(trunkAddr.Addr(), 0), Dst: netip.AddrPortFrom(pbxAddr.Addr(), 0), Transport: "icmp",
		ICMP: &decode.ICMPError{Type: 3, Code: 3, OrigSrc: pbxAddr, OrigDst: trunkAddr, PortUnreachable: true}})
	r := s.report(pbxOpt(), nil)
	c := r.Calls[0]
	if c.ICMPError == "" || !callFailed(&c) || len(c.Messages) != 2 {
		t.Fatalf("call %+v", c)
	}
	m := c.Messages[1]
	if m.ICMP == "" || m.Src.IP != "192.0.2.30" || m.Src.Port != 5060 || m.Dst.IP != "203.0.113.10" {
		t.Fatalf("ICMP rung %+v", m)
	}
	if !strings.Contains(r.Summary(), "1 failed") {
		t.Errorf("summary: %s", r.Summary())
	}
}

// With the PBX unplaced, one-way audio names both sides by address.
func TestOneWayAudioUnplacedNamesAddresses(t *testing.T) {
	s := newSim(t)
	a, b := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("192.0.2.2:5060")
	inv := s.request(a, b, sipReq{method: "INVITE", ruri: "sip:2@192.0.2.2", callID: "ow", cseq: 1, sdp: sdpFor("192.0.2.1", 4000)})
	s.respond(b, a, inv, 200, "OK", "x", sdpFor("192.0.2.2", 5000))
	s.rtp("192.0.2.1:4000", "192.0.2.2:5000", 1, 100*time.Millisecond, 100, nil)
	s.at(3 * time.Second)
	r := s.report(Options{}, nil)
	f := finding(t, r, "one-way-audio")
	contains(t, "one-way-audio", f.Title, ": 192.0.2.1 receives no audio from 192.0.2.2")
	if strings.Contains(f.Title+f.Detail, "far end") {
		t.Errorf("one-way audio between two unplaced peers speaks of a far end: %s %s", f.Title, f.Detail)
	}
}

// A program on the PBX's own address that calls it without registering
// or credentials is not called a trunk.
func TestLoopbackPeerIsNotATrunk(t *testing.T) {
	s := newSim(t)
	pbx, tool := netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("127.0.0.1:5070")
	inv := s.request(tool, pbx, sipReq{method: "INVITE", ruri: "sip:1002@127.0.0.1", callID: "lo1", cseq: 1})
	s.respond(pbx, tool, inv, 404, "Not Found", "p1", nil)
	r := s.report(Options{PBX: []netip.Addr{pbx.Addr()}}, nil)
	if len(r.Peers) != 1 || r.Peers[0].Role != rolePeer || r.Calls[0].Direction != dirUnknown {
		t.Fatalf("peers %+v, calls %+v", r.Peers, r.Calls)
	}
}

// A response sent to the port the caller's Via names, where nothing
// listens (a tool that sends from another port): the ICMP error quotes the
// response and fails the call all the same.
func TestICMPForAResponse(t *testing.T) {
	s := newSim(t)
	caller, callerVia := netip.MustParseAddrPort("10.0.1.199:62986"), netip.MustParseAddrPort("10.0.1.199:5060")
	callee := netip.MustParseAddrPort("10.0.1.45:10270")
	inv := s.request(caller, callee, sipReq{method: "INVITE", ruri: "sip:@127.0.0.1", callID: "spoof1", cseq: 1})
	s.respond(callee, callerVia, inv, 180, "Ringing", "c1", nil)
	s.add(decode.Event{Src: netip.AddrPortFrom(caller.Addr(), 0), Dst: netip.AddrPortFrom(callee.Addr(), 0), Transport: "icmp",
		ICMP: &decode.ICMPError{Type: 3, Code: 3, OrigSrc: callee, OrigDst: callerVia, PortUnreachable: true}})
	r := s.report(Options{}, nil)
	c := r.Calls[0]
	if c.ICMPError == "" || !callFailed(&c) || len(c.Messages) != 3 {
		t.Fatalf("call %+v", c)
	}
	if m := c.Messages[2]; m.ICMP == "" || m.Src.IP != "10.0.1.199" || m.Src.Port != 5060 || m.Dst.Port != 10270 {
		t.Fatalf("ICMP rung %+v", m)
	}
	onlyFindings(t, r, "icmp-port-unreachable")
}
