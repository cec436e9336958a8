// Package pkttest builds packets and capture files for tests: Ethernet,
// Linux cooked (SLL), IPv4/IPv6, UDP, TCP, RTP, SIP, the tunnels a capture
// may carry (PPPoE, GRE, VXLAN, GTP-U), and pcap/pcapng files.
//
// Builders return the encoded bytes of one layer with its payload appended;
// compose them inside out: Ethernet(EtherIPv4, IPv4{...}.Build(UDP(...))).
// IPv4 header checksums are computed; UDP and TCP checksums are left zero
// (decoders accept zero).
package pkttest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// EtherTypes used by the builders.
const (
	EtherIPv4     uint16 = 0x0800
	EtherIPv6     uint16 = 0x86dd
	EtherPPPoE    uint16 = 0x8864
	EtherTEB      uint16 = 0x6558 // transparent Ethernet bridging (GRE)
	ProtoICMP     byte   = 1
	ProtoTCP      byte   = 6
	ProtoUDP      byte   = 17
	ProtoGRE      byte   = 47
	ProtoICMPv6   byte   = 58
	ProtoFragment byte   = 44
)

// Addr parses an IP address and panics on a typo (tests only).
func Addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// AddrPort parses "ip:port" and panics on a typo (tests only).
func AddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// UDP encodes a UDP header and payload.
func UDP(sport, dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	return append(b, payload...)
}

// TCP flags.
const (
	FIN byte = 0x01
	SYN byte = 0x02
	RST byte = 0x04
	PSH byte = 0x08
	ACK byte = 0x10
)

// TCP encodes a 20-byte TCP header (ACK always set) and payload.
func TCP(sport, dport uint16, seq uint32, flags byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, 5<<4, flags|ACK, 0xff, 0xff, 0, 0, 0, 0)
	return append(b, payload...)
}

// IPv4 describes an IPv4 header.
type IPv4 struct {
	Src, Dst netip.Addr
	Proto    byte
	ID       uint16
	FragOff  int    // fragment offset in bytes (a multiple of 8)
	More     bool   // more fragments follow
	Options  []byte // IP options, a multiple of 4 bytes
	TTL      byte   // 64 when zero
}

// Build encodes the header, with its checksum, and appends payload.
func (h IPv4) Build(payload []byte) []byte {
	ihl := 20 + len(h.Options)
	b := []byte{byte(0x40 | ihl/4), 0}
	b = binary.BigEndian.AppendUint16(b, uint16(ihl+len(payload)))
	b = binary.BigEndian.AppendUint16(b, h.ID)
	ff := uint16(h.FragOff / 8)
	if h.More {
		ff |= 0x2000
	}
	b = binary.BigEndian.AppendUint16(b, ff)
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	b = append(b, ttl, h.Proto, 0, 0)
	b = append(b, h.Src.Unmap().AsSlice()...)
	b = append(b, h.Dst.Unmap().AsSlice()...)
	b = append(b, h.Options...)
	binary.BigEndian.PutUint16(b[10:], checksum(b))
	return append(b, payload...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// IP4 is IPv4{Src: src, Dst: dst, Proto: proto, ID: 1}.Build(payload).
func IP4(src, dst netip.Addr, proto byte, payload []byte) []byte {
	return IPv4{Src: src, Dst: dst, Proto: proto, ID: 1}.Build(payload)
}

// IP6 encodes an IPv6 header whose next header is next, and payload.
func IP6(src, dst netip.Addr, next byte, payload []byte) []byte {
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, next, 64)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	return append(b, payload...)
}

// IP6Fragment encodes an IPv6 fragment extension header (offset in bytes).
func IP6Fragment(next byte, off int, more bool, id uint32, payload []byte) []byte {
	ff := uint16(off/8) << 3
	if more {
		ff |= 1
	}
	b := []byte{next, 0}
	b = binary.BigEndian.AppendUint16(b, ff)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, payload...)
}

// IP builds an IPv4 or IPv6 packet, by the family of src.
func IP(src, dst netip.Addr, proto byte, payload []byte) []byte {
	if src.Is4() || src.Is4In6() {
		return IP4(src, dst, proto, payload)
	}
	return IP6(src, dst, proto, payload)
}

// UDPPacket is an IP/UDP packet from src to dst.
func UDPPacket(src, dst netip.AddrPort, payload []byte) []byte {
	return IP(src.Addr(), dst.Addr(), ProtoUDP, UDP(src.Port(), dst.Port(), payload))
}

// EtherTypeOf returns the EtherType of an IP packet.
func EtherTypeOf(ip []byte) uint16 {
	if len(ip) > 0 && ip[0]>>4 == 6 {
		return EtherIPv6
	}
	return EtherIPv4
}

// Ethernet encodes an Ethernet II header with optional VLAN tags (with two
// or more, the outer one is a QinQ 0x88a8 tag) and payload.
func Ethernet(etherType uint16, payload []byte, vlans ...uint16) []byte {
	b := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}
	for i, v := range vlans {
		tpid := uint16(0x8100)
		if i == 0 && len(vlans) > 1 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

// EthernetIP wraps an IP packet in Ethernet with the right EtherType.
func EthernetIP(ip []byte, vlans ...uint16) []byte {
	return Ethernet(EtherTypeOf(ip), ip, vlans...)
}

// SLL wraps an IP packet in a Linux cooked (SLL v1) header.
func SLL(ip []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[2:], 1)
	binary.BigEndian.PutUint16(h[4:], 6)
	binary.BigEndian.PutUint16(h[14:], EtherTypeOf(ip))
	return append(h, ip...)
}

// PPPoE wraps an IP packet in a PPPoE session header and PPP protocol
// field; the result is the payload of EtherType 0x8864.
func PPPoE(ip []byte) []byte {
	proto := uint16(0x0021)
	if EtherTypeOf(ip) == EtherIPv6 {
		proto = 0x0057
	}
	b := []byte{0x11, 0, 0, 1}
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(ip)))
	b = binary.BigEndian.AppendUint16(b, proto)
	return append(b, ip...)
}

// GRE encodes a basic GRE header carrying protocol etherType, and payload;
// the result is the payload of IP protocol 47.
func GRE(etherType uint16, payload []byte) []byte {
	b := []byte{0, 0}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

// VXLAN encodes a VXLAN header (VNI vni) and the inner Ethernet frame;
// the result is the payload of UDP port 4789.
func VXLAN(vni uint32, frame []byte) []byte {
	b := []byte{0x08, 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, vni<<8)
	return append(b, frame...)
}

// GTPU encodes a GTPv1-U G-PDU header (TEID teid) and the inner IP packet;
// the result is the payload of UDP port 2152.
func GTPU(teid uint32, ip []byte) []byte {
	b := []byte{0x30, 0xff}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ip)))
	b = binary.BigEndian.AppendUint32(b, teid)
	return append(b, ip...)
}

// RTP encodes an RTP header (version 2, no CSRC) and size zero bytes of
// payload.
func RTP(pt byte, seq uint16, ts, ssrc uint32, size int) []byte {
	b := []byte{0x80, pt}
	b = binary.BigEndian.AppendUint16(b, seq)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	return append(b, make([]byte, size)...)
}

// SIP joins lines with CRLF, ends the header with an empty line and sets
// Content-Length from body.
func SIP(body string, lines ...string) []byte {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return []byte(b.String())
}

// Packet is one captured frame.
type Packet struct {
	Time time.Time
	Data []byte
}

// Pcap encodes packets as a little-endian pcap file of link type link,
// with nanosecond timestamps when nano is set.
func Pcap(link layers.LinkType, nano bool, pkts ...Packet) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	}
	must(w.WriteFileHeader(262144, link))
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}
		must(w.WritePacket(ci, p.Data))
	}
	return buf.Bytes()
}

// PcapNG encodes packets as a pcapng file with one interface of link type
// link.
func PcapNG(link layers.LinkType, pkts ...Packet) []byte {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, link)
	must(err)
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}
		must(w.WritePacket(ci, p.Data))
	}
	must(w.Flush())
	return buf.Bytes()
}

// Capture accumulates packets with increasing times; the zero value is
// ready (link type raw IP, starting at Start or 2025-03-01 12:00 UTC).
type Capture struct {
	Link    layers.LinkType
	Packets []Packet
}

// Add appends a frame captured at t.
func (c *Capture) Add(t time.Time, data []byte) { c.Packets = append(c.Packets, Packet{t, data}) }

// UDP appends an IP/UDP packet, framed for the capture's link type.
func (c *Capture) UDP(t time.Time, src, dst netip.AddrPort, payload []byte) {
	c.Add(t, c.frame(UDPPacket(src, dst, payload)))
}

func (c *Capture) frame(ip []byte) []byte {
	switch c.link() {
	case layers.LinkTypeEthernet:
		return EthernetIP(ip)
	case layers.LinkTypeLinuxSLL:
		return SLL(ip)
	}
	return ip
}

func (c *Capture) link() layers.LinkType {
	if c.Link == 0 {
		return layers.LinkTypeRaw
	}
	return c.Link
}

// Pcap encodes the capture as a microsecond pcap file.
func (c *Capture) Pcap() []byte { return Pcap(c.link(), false, c.Packets...) }

// PcapNG encodes the capture as a pcapng file.
func (c *Capture) PcapNG() []byte { return PcapNG(c.link(), c.Packets...) }

func must(err error) {
	if err != nil {
		panic("pkttest: " + err.Error())
	}
}
