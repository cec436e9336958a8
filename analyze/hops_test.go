package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
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

// A call put on hold (re-INVITE a=sendonly, answered a=recvonly) carries
// audio one way only on purpose: no one-way-audio finding. The re-INVITE's
// new media port is followed.
func TestHoldIsNotOneWayAudio(t *testing.T) {
	s := newSim(t)
	a, b := netip.MustParseAddrPort("198.51.100.20:5062"), pbxAddr
	withDir := func(addr string, port int, dir string) *decode.SDPBody {
		sdp := sdpFor(addr, port)
		sdp.Media[0].Direction = dir
		return sdp
	}
	inv := s.request(a, b, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "hold1", cseq: 1, sdp: sdpFor("198.51.100.20", 11000)})
	s.respond(b, a, inv, 200, "OK", "p1", sdpFor("203.0.113.10", 50002))
	s.rtp("198.51.100.20:11000", "203.0.113.10:50002", 1, 100*time.Millisecond, 50, nil)
	s.rtp("203.0.113.10:50002", "198.51.100.20:11000", 2, 100*time.Millisecond, 50, nil)
	s.at(1200 * time.Millisecond)
	re := s.request(a, b, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "hold1", cseq: 2, toTag: "p1",
		sdp: withDir("198.51.100.20", 11002, "sendonly")})
	s.respond(b, a, re, 200, "OK", "p1", withDir("203.0.113.10", 50004, "recvonly"))
	s.rtp("198.51.100.20:11002", "203.0.113.10:50004", 3, 1300*time.Millisecond, 150, nil) // music on hold one way
	s.at(5 * time.Second)
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r)
	found := false
	for _, st := range r.Streams {
		if st.SSRC == 3 && st.CallID == "hold1" && st.Expected && st.Packets == 150 {
			found = true
		}
	}
	if !found {
		t.Fatalf("the stream to the re-INVITE's port is not the call's: %+v", r.Streams)
	}
}

// A codec on a dynamic payload type at 16 kHz: the clock rate comes from
// a=rtpmap, so perfectly paced packets show no jitter (taken at 8 kHz they
// would show 20 ms).
func TestDynamicPayload16kHz(t *testing.T) {
	s := newSim(t)
	wb := func(addr string, port int) *decode.SDPBody {
		return &decode.SDPBody{ConnAddr: addr, Media: []decode.SDPMedia{{Type: "audio", Port: port, Proto: "RTP/AVP",
			Formats: []int{96, 101}, ConnAddr: addr, RTPMap: []string{"96 AMR-WB/16000", "101 telephone-event/8000"}, Direction: "sendrecv"}}}
	}
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "wb", cseq: 1, sdp: wb("198.51.100.20", 11000)})
	s.respond(pbxAddr, extAddr, inv, 200, "OK", "p1", wb("203.0.113.10", 50002))
	for i := range 100 {
		s.frame++
		s.events = append(s.events, decode.Event{Frame: s.frame, Time: simT0.Add(time.Duration(100+20*i) * time.Millisecond),
			Src: netip.MustParseAddrPort("198.51.100.20:11000"), Dst: netip.MustParseAddrPort("203.0.113.10:50002"), Transport: "udp",
			RTP: &decode.RTPHeader{PayloadType: 96, Seq: uint16(i), Timestamp: uint32(320 * i), SSRC: 5, PayloadLen: 60}})
	}
	r := s.report(pbxOpt(), nil)
	st := r.Streams[0]
	if st.Codec != "AMR-WB" || st.JitterMs > 0.01 || st.Quality == nil {
		t.Fatalf("stream %+v", st)
	}
}

// An INVITE seen on two hops (phone to proxy, proxy to the far end) carries
// the caller's SDP on both; the copy from the proxy's address is still the
// caller's. Media from the address the callee announced is then expected,
// whichever copy the capture saw last.
func TestSDPCopyOnSecondHopBelongsToCaller(t *testing.T) {
	s := newSim(t)
	phone, proxyIn := netip.MustParseAddrPort("10.0.0.1:5060"), netip.MustParseAddrPort("10.0.0.2:5060")
	proxyOut, far := netip.MustParseAddrPort("10.0.0.3:5060"), netip.MustParseAddrPort("10.0.0.4:5060")
	inv := s.request(phone, proxyIn, sipReq{method: "INVITE", ruri: "sip:1002@10.0.0.4", callID: "hop2", cseq: 1, sdp: sdpFor("10.0.0.50", 16756)})
	s.resend(proxyOut, far, inv)
	s.respond(far, proxyOut, inv, 200, "OK", "b1", sdpFor("10.0.0.60", 15580))
	s.respond(proxyIn, phone, inv, 200, "OK", "b1", sdpFor("10.0.0.60", 15580))
	s.rtp("10.0.0.60:15580", "10.0.0.50:16756", 1, 100*time.Millisecond, 100, nil)
	s.rtp("10.0.0.50:16756", "10.0.0.60:15580", 2, 100*time.Millisecond, 100, nil)
	r := s.report(Options{}, nil)
	for _, st := range r.Streams {
		if !st.Expected {
			t.Errorf("stream %s:%d → %s:%d taken for media from an unannounced address", st.Src.IP, st.Src.Port, st.Dst.IP, st.Dst.Port)
		}
	}
	if slices.Contains(codes(r), "rtp-unexpected-source") {
		t.Fatalf("findings %v", codes(r))
	}
}

// A B2BUA that hands the media to the endpoints (Asterisk's direct media)
// announces the same addresses in both of its legs; each stream is tied to
// one leg only, and the other leg is not silent for that.
func TestDirectMediaSharedByTwoLegs(t *testing.T) {
	s := newSim(t)
	ext1, ext2 := netip.MustParseAddrPort("10.0.0.1:5060"), netip.MustParseAddrPort("10.0.0.2:5060")
	a := s.request(ext1, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "legA", cseq: 1, sdp: sdpFor("10.0.0.1", 8000)})
	b := s.request(pbxAddr, ext2, sipReq{method: "INVITE", ruri: "sip:1002@10.0.0.2", callID: "legB", cseq: 1, sdp: sdpFor("10.0.0.1", 8000)})
	s.respond(ext2, pbxAddr, b, 200, "OK", "b2", sdpFor("10.0.0.2", 8000))
	s.respond(pbxAddr, ext1, a, 200, "OK", "b1", sdpFor("10.0.0.2", 8000))
	s.rtp("10.0.0.1:8000", "10.0.0.2:8000", 1, 100*time.Millisecond, 200, nil)
	s.rtp("10.0.0.2:8000", "10.0.0.1:8000", 2, 100*time.Millisecond, 200, nil)
	r := s.report(pbxOpt(), nil)
	if len(r.Calls) != 2 || len(r.Streams) != 2 {
		t.Fatalf("calls %d streams %d", len(r.Calls), len(r.Streams))
	}
	onlyFindings(t, r)
}

// Video that flows one way in a call without any audio is not "one-way
// audio": no audio flows either way.
func TestVideoIsNotAudio(t *testing.T) {
	s := newSim(t)
	av := func(addr string, audio, video int) *decode.SDPBody {
		b := sdpFor(addr, audio)
		b.Media = append(b.Media, decode.SDPMedia{Type: "video", Port: video, Proto: "RTP/AVP", Formats: []int{34},
			ConnAddr: addr, RTPMap: []string{"34 H263/90000"}, Direction: "sendrecv"})
		return b
	}
	inv := s.request(extAddr, pbxAddr, sipReq{method: "INVITE", ruri: "sip:1002@pbx.example.com", callID: "vid1", cseq: 1, sdp: av("198.51.100.20", 55306, 32976)})
	s.respond(pbxAddr, extAddr, inv, 200, "OK", "p1", av("203.0.113.10", 57126, 57128))
	s.frame++
	for i := range 100 {
		s.events = append(s.events, decode.Event{Frame: s.frame + i, Time: simT0.Add(100*time.Millisecond + time.Duration(i)*20*time.Millisecond),
			Src: netip.MustParseAddrPort("203.0.113.10:57128"), Dst: netip.MustParseAddrPort("198.51.100.20:32976"), Transport: "udp",
			RTP: &decode.RTPHeader{PayloadType: 34, Seq: uint16(i), Timestamp: uint32(3600 * i), SSRC: 7, PayloadLen: 900}})
	}
	r := s.report(pbxOpt(), nil)
	onlyFindings(t, r, "no-audio")
}
