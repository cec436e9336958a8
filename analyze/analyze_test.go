package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// Addresses of the scenarios: the PBX on a public address, an extension
// behind NAT, a trunk on the Internet.
var (
	pbxAddr   = netip.MustParseAddrPort("203.0.113.10:5060")
	extAddr   = netip.MustParseAddrPort("198.51.100.20:5062")
	trunkAddr = netip.MustParseAddrPort("192.0.2.30:5060")
	simT0     = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

// sim builds an event sequence by hand.
type sim struct {
	t      *testing.T
	frame  int
	now    time.Time
	events []decode.Event
	branch int
}

func newSim(t *testing.T) *sim { return &sim{t: t, now: simT0} }

func (s *sim) at(d time.Duration) *sim { s.now = simT0.Add(d); return s }

func (s *sim) add(ev decode.Event) {
	s.frame++
	ev.Frame = s.frame
	ev.Time = s.now
	if ev.Transport == "" {
		ev.Transport = "udp"
	}
	s.events = append(s.events, ev)
	s.now = s.now.Add(10 * time.Millisecond)
}

type sipReq struct {
	method, ruri, callID, branch string
	cseq                         uint32
	from, to, toTag, ua          string
	auth                         bool
	sdp                          *decode.SDPBody
}

func (s *sim) request(src, dst netip.AddrPort, r sipReq) *decode.SIPMessage {
	if r.branch == "" {
		s.branch++
		r.branch = fmt.Sprintf("z9hG4bK%d", s.branch)
	}
	if r.from == "" {
		r.from = "<sip:1001@pbx.example.com>;tag=a1"
	}
	if r.to == "" {
		r.to = "<" + r.ruri + ">"
	}
	m := &decode.SIPMessage{Method: r.method, RequestURI: r.ruri, CallID: r.callID, From: r.from, To: r.to,
		FromTag: "a1", ToTag: r.toTag, CSeqNum: r.cseq, CSeqMethod: r.method, UserAgent: r.ua,
		Via:     []string{fmt.Sprintf("SIP/2.0/UDP %s;branch=%s", src, r.branch)},
		Headers: map[string][]string{}, SDP: r.sdp}
	if r.auth {
		m.Headers["Proxy-Authorization"] = []string{`Digest username="1001"`}
		m.Headers["Authorization"] = []string{`Digest username="1001"`}
	}
	s.add(decode.Event{Src: src, Dst: dst, SIP: m})
	return m
}

// resend sends a request again (a retransmission).
func (s *sim) resend(src, dst netip.AddrPort, m *decode.SIPMessage) {
	s.add(decode.Event{Src: src, Dst: dst, SIP: m})
}

func (s *sim) respond(src, dst netip.AddrPort, r *decode.SIPMessage, status int, reason, toTag string, sdp *decode.SDPBody) {
	m := &decode.SIPMessage{Status: status, Reason: reason, CallID: r.CallID, From: r.From, To: r.To, ToTag: toTag,
		CSeqNum: r.CSeqNum, CSeqMethod: r.CSeqMethod, Via: r.Via, Headers: map[string][]string{}, SDP: sdp}
	s.add(decode.Event{Src: src, Dst: dst, SIP: m})
}

func sdpFor(addr string, port int) *decode.SDPBody {
	return &decode.SDPBody{ConnAddr: addr, Media: []decode.SDPMedia{{Type: "audio", Port: port, Proto: "RTP/AVP",
		Formats: []int{8}, ConnAddr: addr, RTPMap: []string{"8 PCMA/8000"}, Direction: "sendrecv"}}}
}

// rtp sends n packets at 20 ms intervals from src to dst, starting at
// offset d; skip drops the packets whose sequence number it returns true
// for (packet loss).
func (s *sim) rtp(src, dst string, ssrc uint32, d time.Duration, n int, skip func(int) bool) {
	sa, da := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	for i := range n {
		if skip != nil && skip(i) {
			continue
		}
		s.frame++
		s.events = append(s.events, decode.Event{Frame: s.frame, Time: simT0.Add(d + time.Duration(i)*20*time.Millisecond),
			Src: sa, Dst: da, Transport: "udp",
			RTP: &decode.RTPHeader{PayloadType: 8, Seq: uint16(1000 + i), Timestamp: uint32(160 * i), SSRC: ssrc, PayloadLen: 160}})
	}
}

func (s *sim) report(opt Options, in *BundleInput) *Report {
	s.t.Helper()
	slices.SortStableFunc(s.events, func(a, b decode.Event) int { return a.Time.Compare(b.Time) })
	a := New(opt)
	for i := range s.events {
		ev := s.events[i]
		a.Add(&ev)
	}
	r := a.Finish(in, decode.Stats{})
	if _, err := json.Marshal(r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

func pbxOpt() Options { return Options{PBX: []netip.Addr{pbxAddr.Addr()}} }

func codes(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

func finding(t *testing.T, r *Report, code string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Code == code {
			return f
		}
	}
	t.Fatalf("no finding %s; findings: %v\n%s", code, codes(r), r.Summary())
	return Finding{}
}

func onlyFindings(t *testing.T, r *Report, want ...string) {
	t.Helper()
	got := codes(r)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("findings %v, want %v\n%s", got, want, dump(r))
	}
}

func dump(r *Report) string {
	b, _ := json.MarshalIndent(r.Findings, "", "  ")
	return r.Summary() + string(b)
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not say %q:\n%s", what, sub, s)
		}
	}
}

// answeredCall: extension → PBX → trunk, both legs answered, two-way RTP on
// both legs, BYE.
func answeredCall(s *sim, rtpExt, rtpTrunk bool) {
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:0612345678@pbx.example.com", callID: "ext-leg", cseq: 1,
		ua: "Yealink SIP-T46U", sdp: sdpFor("198.51.100.20", 11000)})
	s.respond(pbxAddr, extAddr, inv, 407, "Proxy Authentication Required", "p1", nil)
	s.request(extAddr, pbxAddr, sipReq{method: "ACK", ruri: inv.RequestURI, callID: "ext-leg", cseq: 1, branch: strings.TrimPrefix(inv.Via[0][strings.Index(inv.Via[0], "branch=")+7:], "")})
	inv2 := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: inv.RequestURI, callID: "ext-leg", cseq: 2, auth: true,
		ua: "Yealink SIP-T46U", sdp: sdpFor("198.51.100.20", 11000)})
	s.respond(pbxAddr, extAddr, inv2, 100, "Trying", "", nil)
	out := s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:0612345678@192.0.2.30", callID: "trunk-leg", cseq: 1,
		ua: "PortSIP PBX 22.3", sdp: sdpFor("203.0.113.10", 50000)})
	s.respond(trunkAddr, pbxAddr, out, 183, "Session Progress", "t1", nil)
	s.respond(trunkAddr, pbxAddr, out, 200, "OK", "t1", sdpFor("192.0.2.30", 30000))
	s.request(pbxAddr, trunkAddr, sipReq{method: "ACK", ruri: "sip:0612345678@192.0.2.30", callID: "trunk-leg", cseq: 1, toTag: "t1"})
	s.respond(pbxAddr, extAddr, inv2, 200, "OK", "p2", sdpFor("203.0.113.10", 50002))
	s.request(extAddr, pbxAddr, sipReq{method: "ACK", ruri: inv.RequestURI, callID: "ext-leg", cseq: 2, toTag: "p2"})
	if rtpExt {
		s.rtp("198.51.100.20:11000", "203.0.113.10:50002", 1, 500*time.Millisecond, 150, nil)
		s.rtp("203.0.113.10:50002", "198.51.100.20:11000", 2, 500*time.Millisecond, 150, nil)
	}
	if rtpTrunk {
		s.rtp("203.0.113.10:50000", "192.0.2.30:30000", 3, 500*time.Millisecond, 150, nil)
		s.rtp("192.0.2.30:30000", "203.0.113.10:50000", 4, 500*time.Millisecond, 150, nil)
	}
	s.at(4 * time.Second)
	bye := s.request(extAddr, pbxAddr, sipReq{method: "BYE", ruri: inv.RequestURI, callID: "ext-leg", cseq: 3, toTag: "p2"})
	s.respond(pbxAddr, extAddr, bye, 200, "OK", "p2", nil)
	bye2 := s.request(pbxAddr, trunkAddr, sipReq{method: "BYE", ruri: "sip:0612345678@192.0.2.30", callID: "trunk-leg", cseq: 2, toTag: "t1"})
	s.respond(trunkAddr, pbxAddr, bye2, 200, "OK", "t1", nil)
}

func TestAnsweredCallNoFindings(t *testing.T) {
	for _, opt := range []Options{pbxOpt(), {}} {
		s := newSim(t)
		answeredCall(s, true, true)
		r := s.report(opt, nil)
		onlyFindings(t, r)
		if len(r.Calls) != 2 {
			t.Fatalf("%d calls, want 2", len(r.Calls))
		}
		ext, trunk := r.Calls[0], r.Calls[1]
		if ext.Direction != dirExtToPBX || trunk.Direction != dirPBXToTrunk {
			t.Errorf("directions %q, %q", ext.Direction, trunk.Direction)
		}
		if !ext.Answered || ext.FinalStatus != 200 || ext.FinalBy != rolePBX || !trunk.Answered || trunk.FinalBy != roleTrunk {
			t.Errorf("outcomes: %+v / %+v", ext, trunk)
		}
		if ext.AnswerMs <= 0 || ext.FirstResponseMs < 0 || ext.FirstResponseMs > ext.AnswerMs {
			t.Errorf("timing: first response %d ms, answer %d ms", ext.FirstResponseMs, ext.AnswerMs)
		}
		if !slices.Equal(ext.Related, []string{"trunk-leg"}) {
			t.Errorf("related legs %v", ext.Related)
		}
		if len(r.Streams) != 4 {
			t.Fatalf("%d streams, want 4", len(r.Streams))
		}
		for _, st := range r.Streams {
			if st.CallID == "" || !st.Expected || st.Packets != 150 || st.Lost != 0 || st.JitterMs != 0 {
				t.Errorf("stream %+v", st)
			}
		}
		if !slices.Equal(r.PBX, []string{"203.0.113.10"}) {
			t.Errorf("PBX %v", r.PBX)
		}
		if !strings.Contains(r.Summary(), "no findings") {
			t.Errorf("summary:\n%s", r.Summary())
		}
	}
}

// failedOutbound: the extension's call; the PBX answers code itself, or
// (viaTrunk) places it to the trunk, which answers code.
func failedOutbound(s *sim, callID, number string, code int, reason string, viaTrunk bool) {
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:" + number + "@pbx.example.com", callID: callID, cseq: 1, auth: true,
		ua: "Yealink", sdp: sdpFor("198.51.100.20", 11000)})
	s.respond(pbxAddr, extAddr, inv, 100, "Trying", "", nil)
	if viaTrunk {
		out := s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:" + number + "@192.0.2.30", callID: callID + "-t", cseq: 1,
			ua: "PortSIP PBX", sdp: sdpFor("203.0.113.10", 50000)})
		s.respond(trunkAddr, pbxAddr, out, code, reason, "t9", nil)
		s.request(pbxAddr, trunkAddr, sipReq{method: "ACK", ruri: out.RequestURI, callID: callID + "-t", cseq: 1, toTag: "t9", branch: branchOf(out)})
	}
	s.respond(pbxAddr, extAddr, inv, code, reason, "p9", nil)
	s.request(extAddr, pbxAddr, sipReq{method: "ACK", ruri: inv.RequestURI, callID: callID, cseq: 1, toTag: "p9", branch: branchOf(inv)})
}

func branchOf(m *decode.SIPMessage) string {
	i := strings.Index(m.Via[0], "branch=")
	return m.Via[0][i+7:]
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		code     int
		reason   string
		number   string
		viaTrunk bool
		by       string
		says     []string
	}{
		{403, "Forbidden", "+33612345678", false, "the PBX", []string{"licence", "role", "international", "ALLOWED COUNTRY CODE", "Number Blacklist", "Maximum Simultaneous Calls"}},
		{403, "Forbidden", "0612345678", true, "the trunk", []string{"came from the trunk", "contact the trunk"}},
		{404, "Not Found", "1099", false, "the PBX", []string{"extension number does not exist", "outbound rule", "office hours", "failed within the PBX"}},
		{404, "Not Found", "0612345678", true, "the trunk", []string{"PSTN number does not exist"}},
		{480, "Temporarily Unavailable", "1002", false, "the PBX", []string{"not online"}},
		{503, "Service Unavailable", "0612345678", true, "the trunk", []string{"trunk cannot provide service"}},
		{503, "Service Unavailable", "0612345678", false, "the PBX", []string{"PBX cannot provide service", "DNS"}},
		{408, "Request Timeout", "1002", false, "the PBX", []string{"lost network connection"}},
		{402, "Payment Required", "0612345678", false, "the PBX", []string{"balance"}},
		{500, "Server Internal Error", "0612345678", true, "the trunk", []string{"server error", "Outbound Caller ID"}},
	} {
		t.Run(fmt.Sprintf("%d-%s", tc.code, strings.ReplaceAll(tc.by, " ", "-")), func(t *testing.T) {
			s := newSim(t)
			failedOutbound(s, "c1", tc.number, tc.code, tc.reason, tc.viaTrunk)
			s.at(2 * time.Second)
			failedOutbound(s, "c2", tc.number, tc.code, tc.reason, tc.viaTrunk)
			r := s.report(pbxOpt(), nil)
			code := fmt.Sprintf("sip-%d", tc.code)
			onlyFindings(t, r, code)
			f := finding(t, r, code)
			if f.Severity != Warning {
				t.Errorf("severity %s", f.Severity)
			}
			contains(t, code, f.Title+" "+f.Detail+" "+strings.Join(f.Remedy, " "), append(tc.says, tc.by, "CDR")...)
			wantIDs := 2
			if tc.viaTrunk {
				wantIDs = 4 // both legs of both calls
			}
			if len(f.CallIDs) != wantIDs || len(f.Frames) == 0 {
				t.Errorf("evidence: call IDs %v frames %v", f.CallIDs, f.Frames)
			}
			if !strings.HasPrefix(f.Title, "2 calls failed") {
				t.Errorf("title %q", f.Title)
			}
		})
	}
}

// A status the guide has no entry for (beyond 699: the decoder refuses it,
// a caller of Add may not) is stated without causes; it made the analysis
// panic once.
func TestStatusOutsideGuide(t *testing.T) {
	s := newSim(t)
	failedOutbound(s, "c1", "1002", 999, "Odd", false)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "sip-999")
	f := finding(t, r, "sip-999")
	if strings.Contains(f.Detail, "Possible causes") {
		t.Errorf("detail %q", f.Detail)
	}
	contains(t, "sip-999", f.Title+" "+f.Detail, "999 Odd", "the PBX")
}

func TestChallengeThenSuccessIsNoFailure(t *testing.T) {
	s := newSim(t)
	// A registration: 401, then 200 with credentials.
	reg := s.request(extAddr, pbxAddr, sipReq{method: "REGISTER", ruri: "sip:pbx.example.com", callID: "r1", cseq: 1, to: "<sip:1001@pbx.example.com>"})
	s.respond(pbxAddr, extAddr, reg, 401, "Unauthorized", "x", nil)
	reg2 := s.request(extAddr, pbxAddr, sipReq{method: "REGISTER", ruri: "sip:pbx.example.com", callID: "r1", cseq: 2, auth: true, to: "<sip:1001@pbx.example.com>"})
	s.respond(pbxAddr, extAddr, reg2, 200, "OK", "x", nil)
	// A call: 407, then 200 with credentials, no media expected (no SDP).
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "i1", cseq: 1})
	s.respond(pbxAddr, extAddr, inv, 407, "Proxy Authentication Required", "y", nil)
	inv2 := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "i1", cseq: 2, auth: true})
	s.respond(pbxAddr, extAddr, inv2, 200, "OK", "y", nil)
	r := s.report(Options{}, nil)
	onlyFindings(t, r)
	if r.Registrations[0].FinalStatus != 200 || r.Registrations[0].Direction != dirExtToPBX || r.Calls[0].FinalStatus != 200 {
		t.Errorf("registration %+v call %+v", r.Registrations[0], r.Calls[0])
	}
	if r.Peers[0].Role != roleExtension {
		t.Errorf("peers %+v", r.Peers)
	}
}

func TestRegisterFailures(t *testing.T) {
	s := newSim(t)
	reg := s.request(extAddr, pbxAddr, sipReq{method: "REGISTER", ruri: "sip:pbx.example.com", callID: "r1", cseq: 1, to: "<sip:1001@pbx.example.com>"})
	s.respond(pbxAddr, extAddr, reg, 401, "Unauthorized", "x", nil)
	reg2 := s.request(extAddr, pbxAddr, sipReq{method: "REGISTER", ruri: "sip:pbx.example.com", callID: "r1", cseq: 2, auth: true, to: "<sip:1001@pbx.example.com>"})
	s.respond(pbxAddr, extAddr, reg2, 403, "Forbidden", "x", nil)
	reg3 := s.request(extAddr, pbxAddr, sipReq{method: "REGISTER", ruri: "sip:pbx.example.com", callID: "r2", cseq: 1, to: "<sip:9999@pbx.example.com>"})
	s.respond(pbxAddr, extAddr, reg3, 404, "Not Found", "x", nil)
	s.at(30 * time.Second)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "register-403", "register-404")
	contains(t, "register-403", finding(t, r, "register-403").Detail, "refused the credentials", "1001")
	contains(t, "register-404", finding(t, r, "register-404").Detail, "does not know the account", "9999")
}

// inboundTrunkCall: the trunk sends a call to the PBX for number.
func inboundTrunkCall(s *sim, callID, number string) *decode.SIPMessage {
	return s.request(trunkAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:" + number + "@203.0.113.10", callID: callID, cseq: 1,
		ua: "Carrier SBC", sdp: sdpFor("192.0.2.30", 30000)})
}

func TestInbound407FromPBXToTrunk(t *testing.T) {
	s := newSim(t)
	inv := inboundTrunkCall(s, "in1", "+33620012861")
	s.respond(pbxAddr, trunkAddr, inv, 407, "Proxy Authentication Required", "p", nil)
	s.request(trunkAddr, pbxAddr, sipReq{method: "ACK", ruri: inv.RequestURI, callID: "in1", cseq: 1, toTag: "p", branch: branchOf(inv)})
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "sip-407")
	f := finding(t, r, "sip-407")
	contains(t, "sip-407", f.Title+f.Detail+strings.Join(f.Remedy, " "), "trunk→PBX", "Associated IP Addresses", "DID pool",
		"+33620012861 starts with +", "33620012861", "Verify the port")
	if r.Calls[0].Direction != dirTrunkToPBX || r.Calls[0].FinalBy != rolePBX {
		t.Errorf("call %+v", r.Calls[0])
	}
}

func TestNoResponseFromTrunkWithPortSIPUserAgent(t *testing.T) {
	s := newSim(t)
	inv := s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:0612345678@192.0.2.30", callID: "nr1", cseq: 1,
		ua: "PortSIP PBX 22.3.1", sdp: sdpFor("203.0.113.10", 50000)})
	for _, d := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond} {
		s.at(d)
		s.resend(pbxAddr, trunkAddr, inv)
	}
	reg := s.request(pbxAddr, trunkAddr, sipReq{method: "REGISTER", ruri: "sip:192.0.2.30", callID: "nr2", cseq: 1, ua: "PortSIP PBX 22.3.1"})
	s.at(5 * time.Second)
	s.resend(pbxAddr, trunkAddr, reg)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "no-response")
	f := finding(t, r, "no-response")
	if f.Severity != Critical || len(f.CallIDs) != 2 {
		t.Errorf("finding %+v", f)
	}
	contains(t, "no-response", f.Title+f.Detail+strings.Join(f.Remedy, " "), "the trunk", "1 INVITE", "1 REGISTER",
		"PortSIP", "Advanced > Settings", "User-Agent", "whitelist")
	if !r.Calls[0].NoResponse || r.Calls[0].Retransmissions != 3 || r.Calls[0].Direction != dirPBXToTrunk {
		t.Errorf("call %+v", r.Calls[0])
	}
	if !r.Calls[0].Messages[1].Retransmission {
		t.Errorf("retransmission not marked")
	}
}

func TestNoResponseWithoutRetransmissionIsNotReported(t *testing.T) {
	s := newSim(t)
	s.request(pbxAddr, trunkAddr, sipReq{method: "OPTIONS", ruri: "sip:192.0.2.30", callID: "o1", cseq: 1, ua: "PortSIP PBX"})
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r)
}

func TestDuplicatePacketIsNoRetransmission(t *testing.T) {
	s := newSim(t)
	inv := inboundTrunkCall(s, "d1", "1001")
	s.now = s.now.Add(-9 * time.Millisecond) // the same packet on a second interface
	s.resend(trunkAddr, pbxAddr, inv)
	s.respond(pbxAddr, trunkAddr, inv, 486, "Busy Here", "p", nil)
	r := s.report(pbxOpt(), nil)
	if r.Calls[0].Retransmissions != 0 || len(r.Calls[0].Messages) != 2 {
		t.Errorf("call %+v", r.Calls[0])
	}
	onlyFindings(t, r, "callee-busy")
	if finding(t, r, "callee-busy").Severity != Info {
		t.Error("busy is not info")
	}
}

func TestCancelledCallIsNoFailure(t *testing.T) {
	s := newSim(t)
	inv := inboundTrunkCall(s, "x1", "1001")
	s.respond(pbxAddr, trunkAddr, inv, 180, "Ringing", "p", nil)
	c := s.request(trunkAddr, pbxAddr, sipReq{method: "CANCEL", ruri: inv.RequestURI, callID: "x1", cseq: 1, branch: branchOf(inv)})
	s.respond(pbxAddr, trunkAddr, c, 200, "OK", "p", nil)
	s.respond(pbxAddr, trunkAddr, inv, 487, "Request Terminated", "p", nil)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r)
	if !r.Calls[0].Cancelled {
		t.Error("not marked cancelled")
	}
}

func TestOneWayAudio(t *testing.T) {
	s := newSim(t)
	answeredCall(s, true, false)
	// Only the PBX sends to the trunk; nothing comes back.
	s.rtp("203.0.113.10:50000", "192.0.2.30:30000", 3, 500*time.Millisecond, 150, nil)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "one-way-audio")
	f := finding(t, r, "one-way-audio")
	if f.Severity != Critical || f.CallID != "trunk-leg" {
		t.Errorf("finding %+v", f)
	}
	contains(t, "one-way-audio", f.Title+f.Detail+strings.Join(f.Remedy, " "), "the PBX receives no audio from the trunk",
		"203.0.113.10:50000", "Use the private IP address", "whitelisted", "45000-65000")
}

func TestNoAudio(t *testing.T) {
	s := newSim(t)
	answeredCall(s, true, false)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "no-audio")
	if f := finding(t, r, "no-audio"); f.CallID != "trunk-leg" {
		t.Errorf("finding %+v", f)
	}
	// Without any RTP in the whole capture, say so once, hedged.
	s = newSim(t)
	answeredCall(s, false, false)
	r = s.report(pbxOpt(), nil)
	onlyFindings(t, r, "no-rtp-captured")
}

func TestPrivateSDPToPublicTrunk(t *testing.T) {
	s := newSim(t)
	out := s.request(pbxAddr, trunkAddr, sipReq{method: "INVITE", ruri: "sip:0612345678@192.0.2.30", callID: "p1", cseq: 1,
		ua: "PortSIP PBX", sdp: sdpFor("10.0.0.5", 50000)})
	s.respond(trunkAddr, pbxAddr, out, 200, "OK", "t", sdpFor("192.0.2.30", 30000))
	s.request(pbxAddr, trunkAddr, sipReq{method: "ACK", ruri: out.RequestURI, callID: "p1", cseq: 1, toTag: "t"})
	s.rtp("203.0.113.10:50000", "192.0.2.30:30000", 3, 500*time.Millisecond, 150, nil)
	s.at(4 * time.Second)
	bye := s.request(pbxAddr, trunkAddr, sipReq{method: "BYE", ruri: out.RequestURI, callID: "p1", cseq: 2, toTag: "t"})
	s.respond(trunkAddr, pbxAddr, bye, 200, "OK", "t", nil)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "private-sdp", "one-way-audio")
	f := finding(t, r, "private-sdp")
	contains(t, "private-sdp", f.Title+f.Detail+strings.Join(f.Remedy, " "), "10.0.0.5", "192.0.2.30", "Use the private IP address", "No audio reached the PBX")
	contains(t, "one-way-audio", finding(t, r, "one-way-audio").Detail, "private")
	if !r.Calls[0].SDP[0].Private || r.Calls[0].SDP[1].Private {
		t.Errorf("SDP %+v", r.Calls[0].SDP)
	}
}

func TestUnexpectedRTPSource(t *testing.T) {
	s := newSim(t)
	// The extension announces its private address; its NAT router sends
	// its media from the public one.
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "n1", cseq: 1, auth: true, sdp: sdpFor("192.168.1.20", 11000)})
	s.respond(pbxAddr, extAddr, inv, 200, "OK", "p", sdpFor("203.0.113.10", 50002))
	s.request(extAddr, pbxAddr, sipReq{method: "ACK", ruri: inv.RequestURI, callID: "n1", cseq: 1, toTag: "p"})
	s.rtp("198.51.100.20:41000", "203.0.113.10:50002", 1, 500*time.Millisecond, 150, nil)
	s.rtp("203.0.113.10:50002", "198.51.100.20:41000", 2, 500*time.Millisecond, 150, nil)
	s.at(4 * time.Second)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "rtp-unexpected-source")
	f := finding(t, r, "rtp-unexpected-source")
	contains(t, "rtp-unexpected-source", f.Title, "198.51.100.20", "192.168.1.20")
	if r.Streams[0].Expected || !r.Streams[1].Expected || r.Streams[1].CallID != "n1" {
		t.Errorf("streams %+v", r.Streams)
	}
}

func TestLossAndJitter(t *testing.T) {
	s := newSim(t)
	answeredCall(s, false, false)
	s.rtp("198.51.100.20:11000", "203.0.113.10:50002", 1, 500*time.Millisecond, 150, func(i int) bool { return i%10 == 3 })
	s.rtp("203.0.113.10:50002", "198.51.100.20:11000", 2, 500*time.Millisecond, 150, nil)
	s.rtp("203.0.113.10:50000", "192.0.2.30:30000", 3, 500*time.Millisecond, 150, nil)
	// The trunk's packets arrive in bursts of five every 100 ms, in order:
	// D alternates 20 ms (four times) and 80 ms, so J settles near 32 ms.
	for i := range 150 {
		s.frame++
		s.events = append(s.events, decode.Event{Frame: s.frame, Time: simT0.Add(500*time.Millisecond + time.Duration((i+4)/5)*100*time.Millisecond),
			Src: netip.MustParseAddrPort("192.0.2.30:30000"), Dst: netip.MustParseAddrPort("203.0.113.10:50000"), Transport: "udp",
			RTP: &decode.RTPHeader{PayloadType: 8, Seq: uint16(65500 + i), Timestamp: uint32(4294967000 + 160*i), SSRC: 4}})
	}
	r := s.report(pbxOpt(), nil)
	// 10% random loss scores MOS 3.3 on G.711 (E-model): poor quality too.
	onlyFindings(t, r, "rtp-loss", "rtp-jitter", "poor-quality")
	if st := r.Streams[0]; st.Packets != 135 || st.Lost != 15 || st.LossPercent != 10 {
		t.Errorf("loss %+v", st)
	}
	if st := r.Streams[3]; st.Lost != 0 || st.OutOfOrder != 0 || st.JitterMs < 30 || st.JitterMs > 45 {
		t.Errorf("jitter across sequence and timestamp wrap: %+v", st)
	}
}

func TestICMPPortUnreachable(t *testing.T) {
	s := newSim(t)
	opt := s.request(pbxAddr, trunkAddr, sipReq{method: "OPTIONS", ruri: "sip:192.0.2.30", callID: "u1", cseq: 1, ua: "PortSIP"})
	s.add(decode.Event{Src: netip.AddrPortFrom(trunkAddr.Addr(), 0), Dst: netip.AddrPortFrom(pbxAddr.Addr(), 0), Transport: "icmp",
		ICMP: &decode.ICMPError{Type: 3, Code: 3, OrigSrc: pbxAddr, OrigDst: trunkAddr, PortUnreachable: true}})
	s.at(time.Second)
	s.resend(pbxAddr, trunkAddr, opt)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "icmp-port-unreachable")
	contains(t, "icmp", finding(t, r, "icmp-port-unreachable").Title, "192.0.2.30:5060")
}

func TestTLSOpaque(t *testing.T) {
	s := newSim(t)
	s.add(decode.Event{Src: extAddr, Dst: netip.AddrPortFrom(pbxAddr.Addr(), 5061), Transport: "tls"})
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "tls-opaque")
	if finding(t, r, "tls-opaque").Severity != Info {
		t.Error("TLS is not info")
	}
}

// outcomeJSON is a collector's system/<name>.json.
func outcomeJSON(t *testing.T, name, state string, data any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"name": name, "report": map[string]any{"state": state, "summary": name + " summary", "data": data}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHostDiskFullAndContainers(t *testing.T) {
	in := &BundleInput{System: map[string][]byte{
		"mounts": outcomeJSON(t, "mounts", "OK", map[string]any{"mounts": []map[string]any{
			{"device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4", "options": []string{"rw"}, "total_bytes": 100 << 30, "used_bytes": 98 << 30, "free_bytes": 2 << 30, "used_percent": 98.0, "holds": []string{"pbx_data", "pbx_log"}},
			{"device": "/dev/loop0", "mountpoint": "/snap/core/1", "fstype": "squashfs", "options": []string{"ro"}, "total_bytes": 1 << 20, "used_bytes": 1 << 20, "used_percent": 100.0},
			{"device": "/dev/sdb1", "mountpoint": "/srv", "fstype": "ext4", "options": []string{"rw"}, "total_bytes": 100 << 30, "used_bytes": 50 << 30, "used_percent": 50.0},
		}}),
		"docker": outcomeJSON(t, "docker", "CRITICAL", map[string]any{"containers": []map[string]any{
			{"name": "portsip.callmanager", "state": "exited", "check": "CRITICAL", "problem": "not running (exited)"},
			{"name": "portsip.database", "state": "running", "check": "OK"},
		}}),
		"network": outcomeJSON(t, "network", "OK", map[string]any{"interfaces": []map[string]any{
			{"name": "eth0", "addresses": []string{"203.0.113.10/24", "fe80::1/64"}}}}),
		"gateway":   outcomeJSON(t, "gateway", "CRITICAL", map[string]any{"state": "gateway_down", "url": "https://127.0.0.1:8887/api/info"}),
		"broken":    []byte("{not json"),
		"cpu":       outcomeJSON(t, "cpu", "OK", map[string]any{}),
		"pbx":       []byte(`{"name":"pbx","error":"failed","no_data":true}`),
		"disk_none": nil,
	}}
	s := newSim(t)
	answeredCall(s, true, true)
	r := s.report(Options{}, in)
	onlyFindings(t, r, "disk-full", "containers-down", "gateway-down")
	f := finding(t, r, "disk-full")
	contains(t, "disk-full", f.Title+f.Detail+strings.Join(f.Remedy, " "), "/ 98.0% used", "500", "502", "calls fail", ".gz")
	if r.Findings[0].Severity != Critical || len(r.Host.Disks) != 1 || r.Host.Disks[0].Mount != "/" || len(r.Host.Containers) != 1 {
		t.Errorf("host %+v findings %v", r.Host, codes(r))
	}
	if !slices.Equal(r.PBX, []string{"203.0.113.10", "fe80::1"}) || r.Calls[0].Direction != dirExtToPBX {
		t.Errorf("PBX from network.json: %v, direction %s", r.PBX, r.Calls[0].Direction)
	}
}

// TestLicenceExceeded: a bundle whose licence check read the concurrent
// calls at the licence's limit gives the guide's "licence exceeded" finding
// with the numbers; a licence below its limit gives none.
func TestLicenceExceeded(t *testing.T) {
	at := &BundleInput{System: map[string][]byte{
		"licence": outcomeJSON(t, "licence", "CRITICAL", map[string]any{"max_concurrent_calls": 100, "current_calls": 100,
			"licensed_users": 50, "current_users": 20, "calls_percent": 100.0, "users_percent": 40.0, "licence_exceeded": true}),
	}}
	s := newSim(t)
	failedOutbound(s, "c1", "0612345678", 403, "Forbidden", false)
	r := s.report(pbxOpt(), at)
	f := finding(t, r, "licence-exceeded")
	contains(t, "licence-exceeded", f.Title+f.Detail+strings.Join(f.Remedy, " "), "100 concurrent calls of 100 licensed", "403", "licence")
	if strings.Contains(f.Detail, "users of") {
		t.Errorf("users below their limit are named: %s", f.Detail)
	}
	below := &BundleInput{System: map[string][]byte{
		"licence": outcomeJSON(t, "licence", "WARNING", map[string]any{"max_concurrent_calls": 100, "current_calls": 85, "calls_percent": 85.0}),
	}}
	for _, f := range newSim(t).report(pbxOpt(), below).Findings {
		if f.Code == "licence-exceeded" {
			t.Errorf("a licence below its limit gives %q", f.Title)
		}
	}
}

func TestDiskCheckCritical(t *testing.T) {
	in := &BundleInput{System: map[string][]byte{
		"disk": outcomeJSON(t, "disk", "CRITICAL", map[string]any{"filesystems": []map[string]any{
			{"mountpoint": "/var/lib/portsip", "roles": []string{"pbx_data"}, "paths": []string{"/var/lib/portsip"}, "used_percent": 91.0, "free_bytes": 1 << 30, "state": "CRITICAL", "problems": []string{"only 1 GiB free, minimum 2 GiB"}},
		}}),
	}}
	r := newSim(t).report(pbxOpt(), in)
	onlyFindings(t, r, "disk-full")
	contains(t, "disk-full", finding(t, r, "disk-full").Detail, "only 1 GiB free")
}

func TestLogErrorsNearFailedCall(t *testing.T) {
	log := strings.Join([]string{
		"2026-11-27 09:50:00.000 [ERROR] an old error, long before the call",
		"2026-11-27 10:00:00.100 [INFO] INVITE received",
		"2026-11-27 10:00:00.120 [ERROR] no outbound rule matched for 0612345678",
		"2026-11-27T10:00:01.000Z level=error msg=\"trunk unavailable\"",
		"2026-11-27 10:00:02.000 [INFO] all good",
		"2026-11-27 10:20:00.000 [ERROR] a later error, long after the call",
	}, "\n")
	in := &BundleInput{Logs: []LogSource{
		{Name: "callmanager.log", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(log)), nil }},
		{Name: "callmanager.window.log", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(log)), nil }},
		{Name: "untimed.log", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("fatal: something\nok\n")), nil }},
		{Name: "missing.log", Open: func() (io.ReadCloser, error) { return nil, io.ErrUnexpectedEOF }},
	}}
	s := newSim(t)
	failedOutbound(s, "c1", "0612345678", 404, "Not Found", false)
	r := s.report(pbxOpt(), in)
	onlyFindings(t, r, "sip-404", "log-errors")
	f := finding(t, r, "log-errors")
	var texts []string
	for _, l := range f.Lines {
		texts = append(texts, l.File+": "+l.Text)
	}
	want := []string{
		"callmanager.log: 2026-11-27 10:00:00.120 [ERROR] no outbound rule matched for 0612345678",
		"callmanager.log: 2026-11-27T10:00:01.000Z level=error msg=\"trunk unavailable\"",
		"untimed.log: fatal: something",
	}
	if !slices.Equal(texts, want) {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	if f.Lines[0].Line != 3 {
		t.Errorf("line number %d", f.Lines[0].Line)
	}
	// No failed call: no log finding, however many errors.
	s = newSim(t)
	answeredCall(s, true, true)
	onlyFindings(t, s.report(pbxOpt(), in))
}

func TestParseLogTime(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	for line, want := range map[string]time.Time{
		"2026-11-27 10:00:00.123 x":       time.Date(2026, 11, 27, 10, 0, 0, 123e6, loc),
		"[2026-11-27 10:00:00] x":         time.Date(2026, 11, 27, 10, 0, 0, 0, loc),
		"2026-11-27T10:00:00.5+02:00 x":   time.Date(2026, 11, 27, 8, 0, 0, 5e8, time.UTC),
		"2026-11-27T10:00:00Z":            time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		"2026/11/27 10:00:00,250 +0100 x": time.Date(2026, 11, 27, 9, 0, 0, 250e6, time.UTC),
		"2026-11-27 10:00:00.123456789 x": time.Date(2026, 11, 27, 10, 0, 0, 123456789, loc),
	} {
		got, ok := parseLogTime(line, loc)
		if !ok || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", line, got, ok, want)
		}
	}
	if _, ok := parseLogTime("Nov 27 10:00:00 host x", loc); ok {
		t.Error("syslog time parsed")
	}
}

func TestUserOf(t *testing.T) {
	for in, want := range map[string]string{
		"sip:+33620012861@203.0.113.10;user=phone":  "+33620012861",
		"\"A\" <sip:1001@pbx.example.com>;tag=1":    "1001",
		"tel:+33620012861":                          "+33620012861",
		"sip:pbx.example.com":                       "",
		"<sips:bob@example.com:5061;transport=tls>": "bob",
	} {
		if got := userOf(in); got != want {
			t.Errorf("userOf(%q) = %q, want %q", in, got, want)
		}
	}
}
