package analyze

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The same INVITE seen before and after a NAT (other source address) is
// two messages on two hops, not a retransmission; each hop's response
// belongs to its own hop.
func TestCopiesOnTwoHopsStayDistinct(t *testing.T) {
	s := newSim(t)
	inside := netip.MustParseAddrPort("192.168.1.20:5062")
	inv := s.request(inside, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "nat1", cseq: 1})
	s.resend(extAddr, pbxAddr, inv) // the same packet after the NAT, 10 ms later
	s.respond(pbxAddr, extAddr, inv, 486, "Busy Here", "p1", nil)
	s.respond(pbxAddr, inside, inv, 486, "Busy Here", "p1", nil)
	r := s.report(pbxOpt(), nil)
	if len(r.Calls) != 1 {
		t.Fatalf("calls %+v", r.Calls)
	}
	c := r.Calls[0]
	if len(c.Messages) != 4 || c.Retransmissions != 0 || c.FinalStatus != 486 {
		t.Fatalf("call %+v", c)
	}
	for _, m := range c.Messages {
		if m.Retransmission {
			t.Fatalf("a copy on another hop was taken for a retransmission: %+v", m)
		}
	}
}

// A final response whose INVITE went by before the capture started still
// gives the call its status.
func TestResponseWithoutRequest(t *testing.T) {
	s := newSim(t)
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "late1", cseq: 1})
	s.events = s.events[:0] // the request was not captured
	s.respond(pbxAddr, extAddr, inv, 200, "OK", "p1", nil)
	r := s.report(pbxOpt(), nil)
	if len(r.Calls) != 1 || r.Calls[0].FinalStatus != 200 || !r.Calls[0].Answered {
		t.Fatalf("calls %+v", r.Calls)
	}
}

// The media thresholds are settings: raised above what a stream shows,
// its findings go away; the call keeps its score.
func TestQualityThresholdsConfigurable(t *testing.T) {
	s := newSim(t)
	answeredCall(s, false, false)
	s.rtp("198.51.100.20:11000", "203.0.113.10:50002", 1, 500*time.Millisecond, 150, func(i int) bool { return i%10 == 3 })
	s.rtp("203.0.113.10:50002", "198.51.100.20:11000", 2, 500*time.Millisecond, 150, nil)
	opt := pbxOpt()
	opt.Quality = Thresholds{LossWarnPercent: 20, LossInfoPercent: 15, MOSWarn: 2}
	r := s.report(opt, nil)
	onlyFindings(t, r, "no-audio") // the trunk leg carries no RTP here
	var q *CallQuality
	for _, c := range r.Calls {
		if c.CallID == "ext-leg" {
			q = c.Quality
		}
	}
	if q == nil || q.MOS > 3.6 || q.MOS < 3 || !strings.Contains(q.Direction, "extension 198.51.100.20 → pbx") {
		t.Fatalf("call quality %+v", q)
	}
}
