package decode

import (
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pbxagent/pbxagent/internal/pkttest"
)

// Every tunnel carries the same INVITE (whose SDP announces
// 192.168.1.20:45002) and one RTP packet to that address on a port outside
// any configured range.
func TestTunnels(t *testing.T) {
	a, b := pkttest.Addr("192.168.1.20"), pkttest.Addr("198.51.100.10")
	outer1, outer2 := pkttest.Addr("10.9.0.1"), pkttest.Addr("10.9.0.2")
	sip := pkttest.IP4(a, b, 17, pkttest.UDP(5060, 5060, []byte(inviteSDP)))
	rtp := pkttest.IP4(b, a, 17, pkttest.UDP(7078, 45002, pkttest.RTP(0, 1, 160, 7, 160)))
	wrap := map[string]func(ip []byte) []byte{
		"pppoe": func(ip []byte) []byte { return pkttest.Ethernet(pkttest.EtherPPPoE, pkttest.PPPoE(ip)) },
		"gre-ip": func(ip []byte) []byte {
			return pkttest.EthernetIP(pkttest.IP4(outer1, outer2, 47, pkttest.GRE(0x0800, ip)))
		},
		"gre-eth": func(ip []byte) []byte {
			return pkttest.EthernetIP(pkttest.IP4(outer1, outer2, 47, pkttest.GRE(0x6558, pkttest.EthernetIP(ip))))
		},
		"vxlan": func(ip []byte) []byte {
			return pkttest.EthernetIP(pkttest.IP4(outer1, outer2, 17, pkttest.UDP(51000, 4789, pkttest.VXLAN(42, pkttest.EthernetIP(ip)))))
		},
		"gtp-u": func(ip []byte) []byte {
			return pkttest.EthernetIP(pkttest.IP4(outer1, outer2, 17, pkttest.UDP(2152, 2152, pkttest.GTPU(0x1234, ip))))
		},
		"ipip":       func(ip []byte) []byte { return pkttest.EthernetIP(pkttest.IP4(outer1, outer2, 4, ip)) },
		"qinq":       func(ip []byte) []byte { return pkttest.EthernetIP(ip, 10, 20) },
		"pppoe-vlan": func(ip []byte) []byte { return pkttest.Ethernet(pkttest.EtherPPPoE, pkttest.PPPoE(ip), 7) },
	}
	for name, w := range wrap {
		t.Run(name, func(t *testing.T) {
			recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeEthernet, false, w(sip), w(rtp)))
			if st.SIP != 1 || st.RTP != 1 || st.Malformed != 0 || len(recs) != 2 {
				t.Fatalf("stats %+v", st)
			}
			if recs[0].SIP.CallID != "5d1f0c2b-9e4a@192.168.1.20" || recs[1].Dst.String() != "192.168.1.20:45002" || recs[1].rtp.SSRC != 7 {
				t.Fatalf("events %+v", recs)
			}
		})
	}
}

func TestTunnelDepthBounded(t *testing.T) {
	outer1, outer2 := pkttest.Addr("10.9.0.1"), pkttest.Addr("10.9.0.2")
	ip := pkttest.IP4(pkttest.Addr("192.168.1.20"), pkttest.Addr("198.51.100.10"), 17, pkttest.UDP(5060, 5060, []byte(inviteSDP)))
	for range maxNesting + 1 {
		ip = pkttest.IP4(outer1, outer2, 47, pkttest.GRE(0x0800, ip))
	}
	_, st := decodeAll(t, pcapFile(t, layers.LinkTypeRaw, false, ip))
	if st.SIP != 0 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGTPUExtensionHeaders(t *testing.T) {
	inner := pkttest.IP4(pkttest.Addr("192.168.1.20"), pkttest.Addr("198.51.100.10"), 17, pkttest.UDP(5060, 5060, []byte(inviteSDP)))
	// E flag, sequence, N-PDU, next type 0x85 (PDU session container, 4 bytes).
	ext := []byte{0, 1, 0, 0x85, 1, 0x10, 9, 0}
	body := append(ext, inner...)
	g := append([]byte{0x34, 0xff, byte(len(body) >> 8), byte(len(body)), 0, 0, 0, 1}, body...)
	pkt := pkttest.IP4(pkttest.Addr("10.9.0.1"), pkttest.Addr("10.9.0.2"), 17, pkttest.UDP(2152, 2152, g))
	_, st := decodeAll(t, pcapFile(t, layers.LinkTypeRaw, false, pkt))
	if st.SIP != 1 || st.Malformed != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A length beyond the datagram is malformed, not a panic.
	g[3] += 50
	_, st = decodeAll(t, pcapFile(t, layers.LinkTypeRaw, false, pkttest.IP4(pkttest.Addr("10.9.0.1"), pkttest.Addr("10.9.0.2"), 17, pkttest.UDP(2152, 2152, g))))
	if st.SIP != 0 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// SDP decides the kind of media on a port: T.38 over UDPTL is counted
// apart, never as RTP, and RTP is found on any port the SDP announced.
func TestMediaKindFromSDP(t *testing.T) {
	a, b := pkttest.Addr("192.0.2.1"), pkttest.Addr("192.0.2.2")
	sdp := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 5004 RTP/AVP 0\r\nm=image 6000 udptl t38\r\n"
	invite := pkttest.SIP(sdp, "INVITE sip:2@192.0.2.2 SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
		"From: <sip:1@x>;tag=1", "To: <sip:2@x>", "Call-ID: kinds", "CSeq: 1 INVITE", "Content-Type: application/sdp")
	pkts := [][]byte{pkttest.IP4(a, b, 17, pkttest.UDP(5060, 5060, invite))}
	for i := range 3 {
		pkts = append(pkts, pkttest.IP4(b, a, 17, pkttest.UDP(9000, 5004, pkttest.RTP(0, uint16(i), uint32(i)*160, 1, 160))))
	}
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	pkts = append(pkts, pkttest.IP4(b, a, 17, pkttest.UDP(9001, 5005, rtcp)))
	// UDPTL whose first byte happens to look like RTP version 2.
	pkts = append(pkts, pkttest.IP4(b, a, 17, pkttest.UDP(9002, 6000, []byte{0x80, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})))
	_, st := decodeAll(t, pcapFile(t, layers.LinkTypeRaw, false, pkts...))
	if got := fmt.Sprint(st.SIP, st.RTP, st.RTCP, st.UDPTL); got != "1 3 1 1" {
		t.Fatalf("SIP RTP RTCP UDPTL = %s, stats %+v", got, st)
	}
}
