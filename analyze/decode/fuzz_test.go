package decode

import (
	"bytes"
	"context"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pbxagent/pbxagent/internal/pkttest"
)

func FuzzParseSIP(f *testing.F) {
	for _, s := range []string{inviteSDP, trying, ringing, okSDP, proxyAuth, registerCompact, folded, "SIP/2.0 200 OK\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSIP(b)
		if err == nil && m.Method == "" && m.Status == 0 {
			t.Fatal("message without start line")
		}
		looksLikeSIP(b)
	})
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(sdpOffer))
	f.Add([]byte("v=0\r\nc=IN IP4 10.0.0.1/127\r\nm=audio 1/2 RTP/AVP 0 x\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseSDP(b)
	})
}

func FuzzParseRTP(f *testing.F) {
	f.Add(rtpPkt(0, 1, 2, 20))
	f.Add([]byte{0xbf, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 0, 0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := ParseRTP(b)
		if ok && (h.PayloadLen < 0 || h.HeaderLen+h.PayloadLen > len(b)) {
			t.Fatalf("lengths %+v for %d bytes", h, len(b))
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add(pcapFile(&testing.T{}, layers.LinkTypeEthernet, false, func() [][]byte {
		var out [][]byte
		for _, p := range mixedIP(nil) {
			out = append(out, eth(0x0800, p, 7))
		}
		return out
	}()...))
	f.Add(pcapFile(&testing.T{}, layers.LinkTypeRaw, true, mixedIP(nil)...))
	f.Add(pcapBE(113, mixedIP(nil)...))
	f.Add(ngFile(&testing.T{}))
	f.Add(pcapFile(&testing.T{}, layers.LinkTypeRaw, false,
		ip4("10.0.0.7", "198.51.100.10", 6, tcpPkt(40000, 5063, 1000, 0, []byte(trying+ringing))),
		ip4frag("203.0.113.7", "198.51.100.10", 17, udpPkt(5060, 5060, []byte(inviteSDP))[:400], 5, 0, true, false),
		ip4("203.0.113.9", "198.51.100.10", 1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ip4("198.51.100.10", "203.0.113.9", 17, udpPkt(5060, 5070, nil))...)),
	))
	// Tunnels: PPPoE, GRE, VXLAN, GTP-U around SIP with SDP and its RTP.
	sip := ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(5060, 5060, []byte(inviteSDP)))
	rtp := ip4("198.51.100.10", "192.168.1.20", 17, udpPkt(7078, 45002, rtpPkt(0, 1, 7, 160)))
	outer := func(proto byte, p []byte) []byte { return eth(0x0800, ip4("10.9.0.1", "10.9.0.2", proto, p)) }
	f.Add(pcapFile(&testing.T{}, layers.LinkTypeEthernet, false,
		eth(0x8864, pkttest.PPPoE(sip)), eth(0x8864, pkttest.PPPoE(rtp)),
		outer(47, pkttest.GRE(0x0800, sip)), outer(47, pkttest.GRE(0x6558, eth(0x0800, rtp))),
		outer(17, udpPkt(51000, 4789, pkttest.VXLAN(1, eth(0x0800, sip)))),
		outer(17, udpPkt(2152, 2152, pkttest.GTPU(9, rtp))),
	))
	f.Fuzz(func(t *testing.T, b []byte) {
		Read(context.Background(), bytes.NewReader(b), Options{}, func(e *Event) error {
			if (e.SIP != nil && e.RTP != nil) || (e.RTP != nil && e.ICMP != nil) {
				t.Fatal("two payloads")
			}
			return nil
		})
	})
}
