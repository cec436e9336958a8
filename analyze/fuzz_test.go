package analyze

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// FuzzAnalyzer feeds event sequences built from the input's bytes: SIP
// requests and responses of a few dialogs between a few addresses, with and
// without SDP, RTP, ICMP and TLS, in any order. The analysis must not panic
// and its report must encode.
func FuzzAnalyzer(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("INVITE 200 ACK RTP RTP BYE 200"))
	f.Add([]byte{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := fuzzOne(data); err != nil {
			t.Fatal(err)
		}
	})
}

var (
	fuzzAddrs = []netip.AddrPort{pbxAddr, extAddr, trunkAddr, netip.MustParseAddrPort("10.0.0.5:5060"),
		netip.MustParseAddrPort("127.0.0.1:5070"), netip.MustParseAddrPort("[2001:db8::1]:5060")}
	fuzzMedia    = []string{"203.0.113.10", "10.0.0.5", "0.0.0.0", "", "bogus", "2001:db8::1"}
	fuzzMethods  = []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", ""}
	fuzzStatuses = []int{100, 180, 200, 401, 403, 404, 407, 480, 486, 487, 503, 603, 0, 999}
	fuzzDirs     = []string{"sendrecv", "sendonly", "recvonly", "inactive", ""}
)

func fuzzOne(data []byte) error {
	addrs, media, methods, statuses, dirs := fuzzAddrs, fuzzMedia, fuzzMethods, fuzzStatuses, fuzzDirs
	{
		a := New(Options{LogWindow: time.Second})
		now := simT0
		next := func(i int) byte {
			if i < len(data) {
				return data[i]
			}
			return 0
		}
		for i := 0; i+4 <= len(data); i += 4 {
			b0, b1, b2, b3 := data[i], next(i+1), next(i+2), next(i+3)
			now = now.Add(time.Duration(b3) * 7 * time.Millisecond)
			src, dst := addrs[int(b1)%len(addrs)], addrs[int(b1>>4)%len(addrs)]
			ev := &decode.Event{Frame: i/4 + 1, Time: now, Src: src, Dst: dst, Transport: "udp"}
			switch b0 % 6 {
			case 0, 1:
				m := &decode.SIPMessage{CallID: string(rune('a' + b2%4)), CSeqNum: uint32(b2 % 3), ToTag: string(rune('a' + b3%2)),
					Via: []string{"SIP/2.0/UDP x;branch=z9hG4bK" + string(rune('a'+b2%5))}, From: "<sip:1001@x>", To: "<sip:+3361@x>",
					RequestURI: "sip:+3361@x", UserAgent: "PortSIP PBX", Headers: map[string][]string{}}
				if b0%6 == 0 {
					m.Method = methods[int(b2)%len(methods)]
					m.CSeqMethod = m.Method
					if b3%3 == 0 {
						m.Headers["Authorization"] = []string{"Digest"}
					}
				} else {
					m.Status = statuses[int(b2)%len(statuses)]
					m.CSeqMethod = methods[int(b3)%len(methods)]
				}
				if b3%2 == 1 {
					m.SDP = &decode.SDPBody{ConnAddr: media[int(b2)%len(media)], Media: []decode.SDPMedia{{Type: "audio",
						Port: 40000 + int(b1%4), Formats: []int{int(b2 % 130)}, RTPMap: []string{"8 PCMA/8000", "x", "101 telephone-event/0"},
						Direction: dirs[int(b3)%len(dirs)]}}}
				}
				ev.SIP = m
			case 2, 3:
				ev.Src = netip.AddrPortFrom(src.Addr(), 40000+uint16(b1%4))
				ev.Dst = netip.AddrPortFrom(dst.Addr(), 40000+uint16(b2%4))
				ev.RTP = &decode.RTPHeader{PayloadType: b2 % 130, Seq: uint16(b3) * 300, Timestamp: uint32(b2) << 24, SSRC: uint32(b1 % 3)}
			case 4:
				ev.Transport = "icmp"
				ev.ICMP = &decode.ICMPError{Type: 3, Code: 3, OrigSrc: src, OrigDst: dst, PortUnreachable: b2%2 == 0}
			default:
				ev.Transport = "tls"
			}
			a.Add(ev)
		}
		r := a.Finish(&BundleInput{System: map[string][]byte{"mounts": data, "network": data}}, decode.Stats{})
		if _, err := json.Marshal(r); err != nil {
			return err
		}
		_ = r.Summary()
	}
	return nil
}
