package hep

import (
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxFlows bounds the TCP sequence table of a Packetizer; when it is full
// it starts over (sequence numbers then restart at 1 for old flows).
const maxFlows = 4096

// Packetizer rebuilds the original IP packet (IPv4 or IPv6 header, UDP or
// TCP header, payload) of HEP messages, so a packet capture of the feed
// reads like a capture of the wire. TCP segments of one flow get
// consecutive sequence numbers so dissectors do not mistake them for
// retransmissions. A Packetizer is not safe for concurrent use.
type Packetizer struct {
	seq map[[2]netip.AddrPort]uint32
	buf gopacket.SerializeBuffer
}

// NewPacketizer returns an empty Packetizer.
func NewPacketizer() *Packetizer {
	return &Packetizer{seq: make(map[[2]netip.AddrPort]uint32), buf: gopacket.NewSerializeBuffer()}
}

// streamProtos are the HEP protocol ids rebuilt as TCP: TCP itself and 22
// (IDP), which HEP senders (reSIProcate, sofia-sip, Kamailio) use to mark
// TLS, since TLS has no IP protocol number of its own.
var streamProtos = map[uint8]bool{6: true, 22: true}

// Packet returns the raw IP packet (link type RAW) for m. Stream transports
// (streamProtos) are written as TCP, others as UDP (SCTP is rare for SIP
// and dissectors read SIP over UDP alike). The returned slice is valid until the next call.
func (p *Packetizer) Packet(m *Message) ([]byte, error) {
	src, dst := m.Src.Addr(), m.Dst.Addr()
	proto := layers.IPProtocolUDP
	if streamProtos[m.Proto] {
		proto = layers.IPProtocolTCP
	}
	var ip []gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	if src.Is4() && dst.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, netl = append(ip, v4), v4
	} else {
		s16, d16 := src.As16(), dst.As16()
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s16[:], DstIP: d16[:]}
		ip, netl = append(ip, v6), v6
	}
	if len(m.Payload) > 65535-60-40 {
		return nil, fmt.Errorf("hep: payload of %d bytes does not fit one IP packet", len(m.Payload))
	}
	if proto == layers.IPProtocolTCP {
		k := [2]netip.AddrPort{m.Src, m.Dst}
		if len(p.seq) >= maxFlows {
			clear(p.seq)
		}
		s := p.seq[k]
		if s == 0 {
			s = 1
		}
		p.seq[k] = s + uint32(len(m.Payload))
		t := &layers.TCP{SrcPort: layers.TCPPort(m.Src.Port()), DstPort: layers.TCPPort(m.Dst.Port()),
			Seq: s, PSH: true, ACK: true, Window: 65535}
		_ = t.SetNetworkLayerForChecksum(netl)
		ip = append(ip, t)
	} else {
		u := &layers.UDP{SrcPort: layers.UDPPort(m.Src.Port()), DstPort: layers.UDPPort(m.Dst.Port())}
		_ = u.SetNetworkLayerForChecksum(netl)
		ip = append(ip, u)
	}
	ip = append(ip, gopacket.Payload(m.Payload))
	if err := gopacket.SerializeLayers(p.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip...); err != nil {
		return nil, fmt.Errorf("hep: build packet: %w", err)
	}
	return p.buf.Bytes(), nil
}
