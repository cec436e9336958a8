package decode

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pbxagent/pbxagent/internal/pkttest"
)

// Packet builders: thin adapters over pkttest for the string addresses
// these tests use.

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

var (
	udpPkt = pkttest.UDP
	tcpPkt = pkttest.TCP
	eth    = pkttest.Ethernet
)

func ip4(src, dst string, proto byte, payload []byte) []byte {
	return pkttest.IP4(pkttest.Addr(src), pkttest.Addr(dst), proto, payload)
}

// ip4frag builds an IPv4 fragment; options adds 4 bytes of IP options.
func ip4frag(src, dst string, proto byte, payload []byte, id uint16, off int, more, options bool) []byte {
	h := pkttest.IPv4{Src: pkttest.Addr(src), Dst: pkttest.Addr(dst), Proto: proto, ID: id, FragOff: off, More: more}
	if options {
		h.Options = []byte{1, 1, 1, 0} // NOPs and end of options
	}
	return h.Build(payload)
}

func ip6(src, dst string, next byte, payload []byte) []byte {
	return pkttest.IP6(pkttest.Addr(src), pkttest.Addr(dst), next, payload)
}

func rtpPkt(pt byte, seq uint16, ssrc uint32, n int) []byte {
	return pkttest.RTP(pt, seq, uint32(seq)*160, ssrc, n)
}

var (
	rtcpSR = []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	stun   = append([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...)
)

// record is a decoded event with its pointers' values copied.
type record struct {
	Event
	rtp  RTPHeader
	icmp ICMPError
}

func decodeAll(t *testing.T, file []byte) ([]record, Stats) {
	t.Helper()
	var out []record
	st, err := Read(context.Background(), bytes.NewReader(file), Options{}, func(e *Event) error {
		r := record{Event: *e}
		if e.RTP != nil {
			r.rtp = *e.RTP
		}
		if e.ICMP != nil {
			r.icmp = *e.ICMP
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return out, st
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

// pcapFile writes packets 1 ms apart from t0.
func pcapFile(t *testing.T, link layers.LinkType, nano bool, pkts ...[]byte) []byte {
	var ps []pkttest.Packet
	for i, p := range pkts {
		ps = append(ps, pkttest.Packet{Time: t0.Add(time.Duration(i) * time.Millisecond), Data: p})
	}
	return pkttest.Pcap(link, nano, ps...)
}

// pcapBE writes a big-endian microsecond pcap by hand.
func pcapBE(link uint32, pkts ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, pcapMicro)
	b = append(b, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 65535)
	b = binary.BigEndian.AppendUint32(b, link)
	for i, p := range pkts {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		b = binary.BigEndian.AppendUint32(b, uint32(ts.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(ts.Nanosecond()/1000))
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func sipUDP(t *testing.T) (msg, rtp []byte) {
	return []byte(inviteSDP), rtpPkt(0, 7, 0x11223344, 160)
}

// mixedIP is the IPv4 packets every link-type test carries: a SIP INVITE,
// an RTP packet, an RTCP report, STUN, a CRLF keep-alive, a 4-byte zero
// keep-alive, DNS and an RTP-looking packet from a low port.
func mixedIP(t *testing.T) [][]byte {
	msg, rtp := sipUDP(t)
	return [][]byte{
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(5060, 5060, msg)),
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(45002, 50000, rtp)),
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(45003, 50001, rtcpSR)),
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(45002, 3478, stun)),
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(5060, 5060, []byte("\r\n\r\n"))),
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(5060, 5060, []byte{0, 0, 0, 0})),
		ip4("192.168.1.20", "198.51.100.10", 17, udpPkt(40000, 53, []byte{0x80, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0})),
		ip4("192.168.1.20", "198.51.100.10", 6, tcpPkt(40000, 443, 1, 0, []byte("hello"))),
	}
}

func checkMixed(t *testing.T, recs []record, st Stats) {
	t.Helper()
	if st.Packets != 8 || st.SIP != 1 || st.RTP != 1 || st.RTCP != 1 || st.Malformed != 0 || len(recs) != 2 {
		t.Fatalf("stats %+v, %d events", st, len(recs))
	}
	s := recs[0]
	if s.SIP == nil || s.SIP.Method != "INVITE" || s.Frame != 1 || s.Transport != "udp" ||
		s.Src != netip.MustParseAddrPort("192.168.1.20:5060") || s.Dst != netip.MustParseAddrPort("198.51.100.10:5060") {
		t.Errorf("SIP event %+v", s.Event)
	}
	if !s.Time.Equal(t0) {
		t.Errorf("time %v, want %v", s.Time, t0)
	}
	r := recs[1]
	if r.RTP == nil || r.Frame != 2 || r.rtp.SSRC != 0x11223344 || r.rtp.Seq != 7 || r.rtp.PayloadLen != 160 ||
		r.Dst != netip.MustParseAddrPort("198.51.100.10:50000") {
		t.Errorf("RTP event %+v %+v", r.Event, r.rtp)
	}
}

func TestReadLinkTypes(t *testing.T) {
	wrap := func(f func([]byte) []byte) [][]byte {
		var out [][]byte
		for _, p := range mixedIP(t) {
			out = append(out, f(p))
		}
		return out
	}
	null := func(fam uint32, bo binary.ByteOrder) func([]byte) []byte {
		return func(p []byte) []byte { return append(bo.(binary.AppendByteOrder).AppendUint32(nil, fam), p...) }
	}
	sll := func(p []byte) []byte {
		return append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 8, 0}, p...)
	}
	sll2 := func(p []byte) []byte {
		return append([]byte{8, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, p...)
	}
	tests := []struct {
		name string
		link layers.LinkType
		pkts [][]byte
	}{
		{"ethernet", layers.LinkTypeEthernet, wrap(func(p []byte) []byte { return eth(0x0800, p) })},
		{"vlan", layers.LinkTypeEthernet, wrap(func(p []byte) []byte { return eth(0x0800, p, 100) })},
		{"qinq", layers.LinkTypeEthernet, wrap(func(p []byte) []byte { return eth(0x0800, p, 10, 200) })},
		{"sll", layers.LinkTypeLinuxSLL, wrap(sll)},
		{"sll2", layers.LinkType(276), wrap(sll2)},
		{"raw 101", layers.LinkTypeRaw, wrap(func(p []byte) []byte { return p })},
		{"raw 12", layers.LinkType(12), wrap(func(p []byte) []byte { return p })},
		{"raw 14", layers.LinkType(14), wrap(func(p []byte) []byte { return p })},
		{"ipv4 228", layers.LinkTypeIPv4, wrap(func(p []byte) []byte { return p })},
		{"null LE", layers.LinkTypeNull, wrap(null(2, binary.LittleEndian))},
		{"null BE", layers.LinkTypeNull, wrap(null(2, binary.BigEndian))},
		{"loop", layers.LinkTypeLoop, wrap(null(2, binary.BigEndian))},
		{"ethernet padding", layers.LinkTypeEthernet, wrap(func(p []byte) []byte { return append(eth(0x0800, p), 0, 0, 0, 0) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, st := decodeAll(t, pcapFile(t, tt.link, false, tt.pkts...))
			checkMixed(t, recs, st)
		})
	}
	t.Run("nanosecond pcap", func(t *testing.T) {
		recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeRaw, true, mixedIP(t)...))
		checkMixed(t, recs, st)
	})
	t.Run("big-endian pcap", func(t *testing.T) {
		recs, st := decodeAll(t, pcapBE(101, mixedIP(t)...))
		checkMixed(t, recs, st)
	})
	t.Run("gzip", func(t *testing.T) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(pcapFile(t, layers.LinkTypeRaw, false, mixedIP(t)...))
		zw.Close()
		recs, st := decodeAll(t, z.Bytes())
		checkMixed(t, recs, st)
	})
}

func TestReadIPv6(t *testing.T) {
	msg, rtp := sipUDP(t)
	hopByHop := append([]byte{17, 0}, 1, 4, 0, 0, 0, 0) // next UDP, 8 bytes, PadN
	pkts := [][]byte{
		eth(0x86dd, ip6("2001:db8::20", "2001:db8::10", 0, append(hopByHop, udpPkt(5060, 5060, msg)...))),
		eth(0x86dd, ip6("2001:db8::20", "2001:db8::10", 17, udpPkt(45002, 50000, rtp))),
	}
	recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeEthernet, false, pkts...))
	if st.SIP != 1 || st.RTP != 1 || st.Malformed != 0 {
		t.Fatalf("stats %+v", st)
	}
	if recs[0].Src != netip.MustParseAddrPort("[2001:db8::20]:5060") {
		t.Errorf("src %v", recs[0].Src)
	}
}

func TestReadFragments(t *testing.T) {
	big := []byte(strings.Replace(inviteSDP, "User-Agent:", "X-Padding: "+strings.Repeat("x", 3000)+"\r\nUser-Agent:", 1))
	dgram := udpPkt(5060, 5060, big)
	var pkts [][]byte
	// IPv4, 1480-byte fragments, sent last first, with IP options.
	var frags [][]byte
	for off := 0; off < len(dgram); off += 1480 {
		end := min(off+1480, len(dgram))
		frags = append(frags, eth(0x0800, ip4frag("203.0.113.7", "198.51.100.10", 17, dgram[off:end], 0x4242, off, end < len(dgram), true)))
	}
	for i := len(frags) - 1; i >= 0; i-- {
		pkts = append(pkts, frags[i])
	}
	// IPv6, two fragments in order.
	const v6off = 1448
	fh := func(off int, more bool, next byte) []byte {
		of := uint16(off)
		if more {
			of |= 1
		}
		return append([]byte{next, 0}, append(be16(of), 0, 0, 0x99, 0x99)...)
	}
	pkts = append(pkts,
		eth(0x86dd, ip6("2001:db8::7", "2001:db8::10", 44, append(fh(0, true, 17), dgram[:v6off]...))),
		eth(0x86dd, ip6("2001:db8::7", "2001:db8::10", 44, append(fh(v6off, false, 17), dgram[v6off:]...))),
	)
	// A lone middle fragment never completes.
	pkts = append(pkts, eth(0x0800, ip4frag("203.0.113.8", "198.51.100.10", 17, dgram[8:16], 7, 8, true, false)))
	recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeEthernet, false, pkts...))
	if st.SIP != 2 || st.Reassembled != 2 || st.Malformed != 0 || len(recs) != 2 {
		t.Fatalf("stats %+v", st)
	}
	if recs[0].Frame != len(frags) || recs[1].Frame != len(frags)+2 {
		t.Errorf("frames %d %d", recs[0].Frame, recs[1].Frame)
	}
	for _, r := range recs {
		if len(r.SIP.Body) != len(crlf(sdpOffer)) || r.SIP.SDP == nil || r.SIP.Header("X-Padding") == "" {
			t.Errorf("reassembled message %+v", r.SIP)
		}
	}
}

func TestReadTCP(t *testing.T) {
	a, b := "10.0.0.7", "198.51.100.10"
	one := []byte(inviteSDP)
	two := []byte(trying + ringing)
	var pkts [][]byte
	add := func(src, dst string, sp, dp uint16, seq uint32, flags byte, p []byte) {
		pkts = append(pkts, eth(0x0800, ip4(src, dst, 6, tcpPkt(sp, dp, seq, flags, p))))
	}
	add(a, b, 40000, 5063, 999, tcpSYN, nil)
	// The INVITE in three segments, the second retransmitted.
	add(a, b, 40000, 5063, 1000, 0, one[:100])
	add(a, b, 40000, 5063, 1100, 0, one[100:400])
	add(a, b, 40000, 5063, 1100, 0, one[100:400])
	add(a, b, 40000, 5063, 1400, 0, one[400:])
	// 100 and 180 in one segment, with a CRLF keep-alive before them.
	add(b, a, 5063, 40000, 5000, 0, append([]byte("\r\n\r\n"), two...))
	// A gap: part of a 200 OK is lost; the following BYE is found again.
	seq := uint32(1000 + len(one))
	add(a, b, 40000, 5063, seq+50, 0, []byte(okSDP[50:]))
	bye := crlf("BYE sip:1002@10.0.0.7 SIP/2.0\nVia: SIP/2.0/TCP 10.0.0.7:5063;branch=z9hG4bKbye\nCall-ID: tcp\nCSeq: 2 BYE\n\n")
	seq += uint32(len(okSDP))
	add(a, b, 40000, 5063, seq, 0, []byte(bye[:20]))
	add(a, b, 40000, 5063, seq+20, tcpFIN, []byte(bye[20:]))
	// SIP on a TCP port outside SIPPorts, found by content.
	add(a, b, 40001, 6000, 1, 0, []byte(trying))
	recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeEthernet, false, pkts...))
	var got []string
	for _, r := range recs {
		if r.SIP == nil || r.Transport != "tcp" {
			t.Fatalf("event %+v", r.Event)
		}
		label := r.SIP.Method
		if label == "" {
			label = itoa(r.SIP.Status)
		}
		got = append(got, label+"@"+itoa(r.Frame))
	}
	want := []string{"INVITE@5", "100@6", "180@6", "BYE@9", "100@10"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if recs[0].SIP.SDP == nil || recs[0].SIP.CallID != "5d1f0c2b-9e4a@192.168.1.20" {
		t.Errorf("INVITE %+v", recs[0].SIP)
	}
	if st.TCPGaps != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestReadTLS(t *testing.T) {
	a, b := "203.0.113.7", "198.51.100.10"
	hello := []byte{0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0}
	pkts := [][]byte{
		ip4(a, b, 6, tcpPkt(40000, 5061, 1, 0, hello)),
		ip4(b, a, 6, tcpPkt(5061, 40000, 1, 0, []byte{0x17, 3, 3, 0, 2, 9, 9})),
		ip4(a, b, 6, tcpPkt(40000, 5061, 11, 0, []byte("continuation of a record"))),
		// WSS on 5065 picked up mid-stream.
		ip4(a, b, 6, tcpPkt(40001, 5065, 77, 0, []byte{0x82, 0x7e, 1, 2, 3})),
		// Plain SIP on 5065.
		ip4(a, b, 6, tcpPkt(40002, 5065, 1, 0, []byte(trying))),
	}
	recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeRaw, false, pkts...))
	if st.TLS != 4 || st.SIP != 1 || len(recs) != 5 {
		t.Fatalf("stats %+v", st)
	}
	for _, r := range recs[:4] {
		if r.Transport != "tls" || r.SIP != nil || r.RTP != nil || r.ICMP != nil {
			t.Errorf("TLS event %+v", r.Event)
		}
	}
}

func TestReadICMP(t *testing.T) {
	orig := ip4("198.51.100.10", "203.0.113.9", 17, udpPkt(5060, 5070, []byte(inviteSDP)))[:28]
	icmp4 := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, orig...)
	orig6 := ip6("2001:db8::10", "2001:db8::9", 17, udpPkt(5060, 5070, []byte("x")))[:48]
	icmp6 := append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, orig6...)
	pkts := [][]byte{
		ip4("203.0.113.9", "198.51.100.10", 1, icmp4),
		ip6("2001:db8::9", "2001:db8::10", 58, icmp6),
		ip4("203.0.113.9", "198.51.100.10", 1, []byte{8, 0, 0, 0, 0, 1, 0, 1}), // echo request
	}
	recs, st := decodeAll(t, pcapFile(t, layers.LinkTypeRaw, false, pkts...))
	if st.ICMP != 2 || len(recs) != 2 || st.Malformed != 0 {
		t.Fatalf("stats %+v", st)
	}
	r := recs[0]
	if r.Transport != "icmp" || r.ICMP == nil || !r.icmp.PortUnreachable || r.icmp.Type != 3 ||
		r.icmp.OrigSrc != netip.MustParseAddrPort("198.51.100.10:5060") ||
		r.icmp.OrigDst != netip.MustParseAddrPort("203.0.113.9:5070") ||
		r.Src.Addr() != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("ICMP %+v %+v", r.Event, r.icmp)
	}
	r = recs[1]
	if !r.icmp.PortUnreachable || !r.icmp.V6 || r.icmp.OrigDst != netip.MustParseAddrPort("[2001:db8::9]:5070") {
		t.Errorf("ICMPv6 %+v", r.icmp)
	}
}

// ngFile writes a pcapng file with an Ethernet and a raw-IP interface.
func ngFile(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{
		Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	tun, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 6})
	if err != nil {
		t.Fatal(err)
	}
	msg, rtp := sipUDP(t)
	write := func(i, ifc int, p []byte, dir pcapgo.NgEpbFlag) {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(p), Length: len(p), InterfaceIndex: ifc}
		var o pcapgo.NgPacketOptions
		if dir != 0 {
			o.Flags = &pcapgo.NgEpbFlags{Direction: dir}
		}
		if err := w.WritePacketWithOptions(ci, p, o); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 0, eth(0x0800, ip4("10.0.0.7", "198.51.100.10", 17, udpPkt(5060, 5060, msg))), pcapgo.NgEpbFlagDirectionInbound)
	if err := w.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{LastUpdate: t0}); err != nil {
		t.Fatal(err)
	}
	write(1, tun, ip4("10.8.0.2", "10.8.0.1", 17, udpPkt(45002, 50000, rtp)), pcapgo.NgEpbFlagDirectionOutbound)
	write(2, 0, []byte{1, 2, 3}, 0) // runt frame
	write(3, tun, ip4("10.8.0.2", "10.8.0.1", 17, udpPkt(45002, 50000, rtp)), 0)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadPcapng(t *testing.T) {
	recs, st := decodeAll(t, ngFile(t))
	if st.Packets != 4 || st.SIP != 1 || st.RTP != 2 || st.Malformed != 1 || len(recs) != 3 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Join(st.Interfaces, ",") != "eth0,tun0" {
		t.Errorf("interfaces %v", st.Interfaces)
	}
	if r := recs[0]; r.Iface != "eth0" || r.Direction != DirInbound || r.Frame != 1 || !r.Time.Equal(t0) {
		t.Errorf("first %+v", r.Event)
	}
	if r := recs[1]; r.Iface != "tun0" || r.Direction != DirOutbound || r.Frame != 2 || !r.Time.Equal(t0.Add(time.Second)) {
		t.Errorf("second %+v", r.Event)
	}
	if r := recs[2]; r.Frame != 4 || r.Direction != DirUnknown {
		t.Errorf("third %+v", r.Event)
	}
	if !st.Start.Equal(t0) || !st.End.Equal(t0.Add(3*time.Second)) {
		t.Errorf("start %v end %v", st.Start, st.End)
	}
	// Big-endian sections, as written on a big-endian host: converted by hand.
	recs2, st2 := decodeAll(t, ngToBigEndian(t, ngFile(t)))
	if st2.Packets != 4 || st2.SIP != 1 || st2.RTP != 2 || len(recs2) != 3 || recs2[1].Direction != DirOutbound {
		t.Errorf("big-endian: stats %+v", st2)
	}
}

// ngToBigEndian rewrites a little-endian pcapng file of SHB, IDB, EPB and
// ISB blocks in big-endian byte order.
func ngToBigEndian(t *testing.T, b []byte) []byte {
	le, be := binary.LittleEndian, binary.BigEndian
	out := append([]byte(nil), b...)
	sw32 := func(o int) { be.PutUint32(out[o:], le.Uint32(b[o:])) }
	sw16 := func(o int) { be.PutUint16(out[o:], le.Uint16(b[o:])) }
	opts := func(o, end int) {
		for o+4 <= end {
			code, n := le.Uint16(b[o:]), int(le.Uint16(b[o+2:]))
			sw16(o)
			sw16(o + 2)
			if code == 0 {
				return
			}
			if n == 4 {
				sw32(o + 4)
			}
			if n == 8 {
				be.PutUint64(out[o+4:], le.Uint64(b[o+4:]))
			}
			o += 4 + (n+3)&^3
		}
	}
	for o := 0; o+12 <= len(b); {
		typ, n := le.Uint32(b[o:]), int(le.Uint32(b[o+4:]))
		sw32(o)
		sw32(o + 4)
		sw32(o + n - 4)
		switch typ {
		case ngSHB:
			sw32(o + 8)
			sw16(o + 12)
			sw16(o + 14)
			opts(o+24, o+n-4)
		case ngIDB:
			sw16(o + 8)
			sw32(o + 12)
			opts(o+16, o+n-4)
		case ngEPB:
			for i := 8; i < 28; i += 4 {
				sw32(o + i)
			}
			opts(o+28+(int(le.Uint32(b[o+20:]))+3)&^3, o+n-4)
		case 5:
			for i := 8; i < 20; i += 4 {
				sw32(o + i)
			}
			opts(o+20, o+n-4)
		default:
			t.Fatalf("block type %d", typ)
		}
		o += n
	}
	return out
}

func TestReadTruncatedAndCorrupt(t *testing.T) {
	full := pcapFile(t, layers.LinkTypeRaw, false, mixedIP(t)...)
	// Cut in the middle of the second record: the first is decoded.
	recs, st := decodeAll(t, full[:24+16+len(mixedIP(t)[0])+30])
	if len(recs) != 1 || st.Malformed != 1 || st.Packets != 2 {
		t.Errorf("cut pcap: %d events, stats %+v", len(recs), st)
	}
	ng := ngFile(t)
	recs, st = decodeAll(t, ng[:len(ng)-10])
	if len(recs) != 2 || st.Malformed != 2 {
		t.Errorf("cut pcapng: %d events, stats %+v", len(recs), st)
	}
	// A record length of 2 GiB.
	bad := append([]byte(nil), full...)
	binary.LittleEndian.PutUint32(bad[24+8:], 0x7fffffff)
	_, err := Read(context.Background(), bytes.NewReader(bad), Options{}, func(*Event) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge record: err %v", err)
	}
	// A record of 1 MiB is skipped.
	bad = pcapFile(t, layers.LinkTypeRaw, false, make([]byte, 1<<20), mixedIP(t)[0])
	recs, st = decodeAll(t, bad)
	if len(recs) != 1 || st.Malformed != 1 {
		t.Errorf("oversized record: %d events, stats %+v", len(recs), st)
	}
	if _, err := Read(context.Background(), strings.NewReader("not a capture file"), Options{}, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("text: err %v", err)
	}
	if _, err := Read(context.Background(), strings.NewReader(""), Options{}, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("empty: err %v", err)
	}
}

func TestReadSnapLen(t *testing.T) {
	// RTP captured with a 64-byte snap length.
	p := eth(0x0800, ip4("10.0.0.7", "198.51.100.10", 17, udpPkt(45002, 50000, rtpPkt(8, 1, 5, 160))))
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(64, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 64, Length: len(p)}, p[:64])
	recs, st := decodeAll(t, buf.Bytes())
	if st.RTP != 1 || st.Malformed != 0 || recs[0].rtp.PayloadLen != 160 || recs[0].Len != len(p) || st.Bytes != int64(len(p)) {
		t.Errorf("stats %+v, events %+v", st, recs)
	}
}

func TestReadOptions(t *testing.T) {
	file := pcapFile(t, layers.LinkTypeRaw, false, mixedIP(t)...)
	n := 0
	st, err := Read(context.Background(), bytes.NewReader(file), Options{RTPLow: 10000, RTPHigh: 20000}, func(e *Event) error {
		n++
		return nil
	})
	// The INVITE's SDP announced 192.168.1.20:45002: its RTP is found
	// although the port lies outside the range, and its RTCP on 45003.
	if err != nil || st.RTP != 1 || st.RTCP != 1 || st.SIP != 1 || n != 2 {
		t.Errorf("RTP announced in SDP: err %v, stats %+v", err, st)
	}
	// Without the INVITE only the ranges find media.
	noSIP := pcapFile(t, layers.LinkTypeRaw, false, mixedIP(t)[1:]...)
	st, err = Read(context.Background(), bytes.NewReader(noSIP), Options{RTPLow: 10000, RTPHigh: 20000}, func(*Event) error { return nil })
	if err != nil || st.RTP != 0 || st.RTCP != 0 {
		t.Errorf("RTP range: err %v, stats %+v", err, st)
	}
	st, err = Read(context.Background(), bytes.NewReader(noSIP), Options{RTPLow: 10000, RTPHigh: 20000,
		RTPRanges: []PortRange{{45000, 45010}}}, func(*Event) error { return nil })
	if err != nil || st.RTP != 1 || st.RTCP != 1 {
		t.Errorf("second RTP range: err %v, stats %+v", err, st)
	}
	stop := errors.New("stop")
	_, err = Read(context.Background(), bytes.NewReader(file), Options{}, func(*Event) error { return stop })
	if err != stop {
		t.Errorf("callback error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Read(ctx, bytes.NewReader(file), Options{}, func(*Event) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestRTPNoAlloc checks that an RTP packet is decoded without allocating.
func TestRTPNoAlloc(t *testing.T) {
	d := newDecoder(context.Background(), Options{}, func(e *Event) error {
		if e.RTP == nil {
			t.Fatal("not RTP")
		}
		return nil
	})
	d.addIface("eth0", linkEthernet)
	d.frame = 1
	p := eth(0x0800, ip4("10.0.0.7", "198.51.100.10", 17, udpPkt(45002, 50000, rtpPkt(8, 1, 5, 160))), 100)
	if n := testing.AllocsPerRun(1000, func() {
		d.frame++
		d.packet(0, t0, p, len(p), DirInbound)
	}); n != 0 {
		t.Errorf("%v allocations per RTP packet", n)
	}
}
