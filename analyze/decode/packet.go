package decode

import (
	"context"
	"encoding/binary"
	"net/netip"
	"time"
)

// Link types (pcap LINKTYPE_ values, and the DLT_ values older files use).
const (
	linkNull     = 0
	linkEthernet = 1
	linkRaw12    = 12 // DLT_RAW on most systems
	linkRaw14    = 14 // DLT_RAW on OpenBSD
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// Default ports, see Options.
var (
	defaultSIPPorts = []int{5060, 5061, 5063, 5065}
	defaultTLSPorts = []int{5061, 5065}
)

// portSet is a set of TCP/UDP ports.
type portSet [65536 / 64]uint64

func (s *portSet) add(p int) {
	if p >= 0 && p < 65536 {
		s[p>>6] |= 1 << (p & 63)
	}
}

func (s *portSet) has(p uint16) bool { return s[p>>6]&(1<<(p&63)) != 0 }

// iface is a capture interface of the decoder.
type iface struct {
	name string
	link int
}

// decoder holds the state of one Read.
type decoder struct {
	ctx      context.Context
	fn       func(*Event) error
	stats    Stats
	frame    int
	ifaces   []iface
	ngIfaces []ngIface // pcapng: parallel to ifaces

	raw       func(RawPacket) error
	rtpRanges []PortRange
	media     map[netip.AddrPort]MediaKind // learnt from SDP
	sipPorts  portSet                      // TCP ports followed for SIP
	tlsPorts  portSet                      // TCP ports taken as TLS unless plain SIP

	// The packet being decoded.
	ts      time.Time
	iface   int
	origLen int
	dir     Direction
	cut     bool // captured shorter than on the wire
	depth   int  // tunnels unwrapped so far

	ev   Event
	rtp  RTPHeader
	icmp ICMPError

	frags fragTable
	tcp   tcpTable
}

func newDecoder(ctx context.Context, opt Options, fn func(*Event) error) *decoder {
	d := &decoder{ctx: ctx, fn: fn, raw: opt.Raw}
	lo, hi := opt.RTPLow, opt.RTPHigh
	if lo == 0 && hi == 0 {
		lo, hi = 1024, 65535
	}
	d.rtpRanges = append([]PortRange{{max(0, min(lo, 65535)), max(0, min(hi, 65535))}}, opt.RTPRanges...)
	sip, tls := opt.SIPPorts, opt.TLSPorts
	if len(sip) == 0 {
		sip = defaultSIPPorts
	}
	if len(tls) == 0 {
		tls = defaultTLSPorts
	}
	for _, p := range sip {
		d.sipPorts.add(p)
	}
	for _, p := range tls {
		d.sipPorts.add(p)
		d.tlsPorts.add(p)
	}
	d.frags.init()
	d.tcp.init()
	return d
}

// addIface registers an interface and returns its number.
func (d *decoder) addIface(name string, link int) int {
	d.ifaces = append(d.ifaces, iface{name: name, link: link})
	if name != "" {
		seen := false
		for _, n := range d.stats.Interfaces {
			if n == name {
				seen = true
				break
			}
		}
		if !seen && len(d.stats.Interfaces) < 1024 {
			d.stats.Interfaces = append(d.stats.Interfaces, name)
		}
	}
	return len(d.ifaces) - 1
}

// finish is called at the end of the file.
func (d *decoder) finish() {}

// packet decodes one captured packet.
func (d *decoder) packet(ifn int, ts time.Time, data []byte, origLen int, dir Direction) error {
	if d.frame%ctxEvery == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	d.ts, d.iface, d.origLen, d.dir = ts, ifn, origLen, dir
	d.cut = len(data) < origLen
	if d.raw != nil {
		if err := d.raw(RawPacket{Frame: d.frame, Time: ts, LinkType: d.ifaces[ifn].link, Data: data, Len: origLen}); err != nil {
			return err
		}
	}
	var et uint16
	switch d.ifaces[ifn].link {
	case linkEthernet:
		return d.ethernet(data)
	case linkSLL:
		if len(data) < 16 {
			return d.malformed()
		}
		et, data = binary.BigEndian.Uint16(data[14:]), data[16:]
	case linkSLL2:
		if len(data) < 20 {
			return d.malformed()
		}
		et, data = binary.BigEndian.Uint16(data), data[20:]
	case linkRaw, linkRaw12, linkRaw14, linkIPv4, linkIPv6:
		return d.ip(data)
	case linkNull, linkLoop:
		if len(data) < 4 {
			return d.malformed()
		}
		fam := binary.BigEndian.Uint32(data)
		if d.ifaces[ifn].link == linkNull && fam > 0xffff {
			fam = binary.LittleEndian.Uint32(data)
		}
		switch fam {
		case 2, 24, 28, 30:
			return d.ip(data[4:])
		}
		return nil
	default:
		return nil
	}
	return d.etherType(et, data)
}

// malformed counts the current packet as malformed.
func (d *decoder) malformed() error {
	d.stats.Malformed++
	return nil
}

// ip decodes an IPv4 or IPv6 packet.
func (d *decoder) ip(b []byte) error {
	if len(b) == 0 {
		return d.malformed()
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b)
	case 6:
		return d.ipv6(b)
	}
	return d.malformed()
}

func (d *decoder) ipv4(b []byte) error {
	if len(b) < 20 {
		return d.malformed()
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl {
		return d.malformed()
	}
	switch {
	case total == 0: // segmentation offload: the length is not filled in
	case total < ihl:
		return d.malformed()
	case total <= len(b):
		b = b[:total] // drop link-layer padding
	case !d.cut:
		return d.malformed()
	}
	proto := b[9]
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	ff := binary.BigEndian.Uint16(b[6:])
	if ff&0x3fff != 0 { // more fragments, or an offset
		if proto != 17 {
			return nil
		}
		if d.cut {
			return d.malformed()
		}
		key := fragKey{src: src, dst: dst, id: uint32(binary.BigEndian.Uint16(b[4:])), proto: proto}
		whole, st := d.frags.add(key, int(ff&0x1fff)*8, b[ihl:], ff&0x2000 != 0, d.ts)
		if st == fragBad {
			return d.malformed()
		}
		if whole == nil {
			return nil
		}
		d.stats.Reassembled++
		return d.l4(proto, src, dst, whole)
	}
	return d.l4(proto, src, dst, b[ihl:])
}

// ipv6 decodes an IPv6 packet, walking its extension headers.
func (d *decoder) ipv6(b []byte) error {
	if len(b) < 40 {
		return d.malformed()
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	next := b[6]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	p := b[40:]
	switch {
	case plen == 0: // jumbogram or offload: take what was captured
	case plen <= len(p):
		p = p[:plen]
	case !d.cut:
		return d.malformed()
	}
	for range 8 {
		switch next {
		case 0, 43, 60, 51: // hop-by-hop, routing, destination options, authentication
			n, ok := ipv6ExtLen(next, p)
			if !ok {
				return d.malformed()
			}
			next, p = p[0], p[n:]
		case 44: // fragment
			if len(p) < 8 {
				return d.malformed()
			}
			if of := binary.BigEndian.Uint16(p[2:]); of&0xfff9 == 0 { // atomic fragment
				next, p = p[0], p[8:]
				continue
			}
			return d.ipv6Fragment(src, dst, p)
		default:
			return d.l4(next, src, dst, p)
		}
	}
	return nil
}

// ipv6ExtLen is the length of an IPv6 extension header (authentication
// counts 4-byte units beyond 2, the others 8-byte units beyond 1); false
// when it does not fit in p.
func ipv6ExtLen(next uint8, p []byte) (int, bool) {
	if len(p) < 2 {
		return 0, false
	}
	n := (int(p[1]) + 1) * 8
	if next == 51 {
		n = (int(p[1]) + 2) * 4
	}
	return n, n <= len(p)
}

// ipv6Fragment reassembles a UDP fragment (p starts at the fragment
// header) and decodes the datagram once it is whole.
func (d *decoder) ipv6Fragment(src, dst netip.Addr, p []byte) error {
	nh := p[0]
	of := binary.BigEndian.Uint16(p[2:])
	id := binary.BigEndian.Uint32(p[4:])
	p = p[8:]
	if nh != 17 {
		return nil
	}
	if d.cut {
		return d.malformed()
	}
	key := fragKey{src: src, dst: dst, id: id, proto: nh, v6: true}
	whole, st := d.frags.add(key, int(of&^7), p, of&1 != 0, d.ts)
	if st == fragBad {
		return d.malformed()
	}
	if whole == nil {
		return nil
	}
	d.stats.Reassembled++
	return d.l4(nh, src, dst, whole)
}

// l4 decodes the transport layer.
func (d *decoder) l4(proto uint8, src, dst netip.Addr, p []byte) error {
	switch proto {
	case 17:
		return d.udp(src, dst, p)
	case 6:
		return d.tcpSegment(src, dst, p)
	case 47:
		return d.gre(p)
	case 4, 41: // IPv4 or IPv6 in IP
		return d.nested(func() error { return d.ip(p) })
	case 1:
		if src.Is4() {
			return d.icmp4(src, dst, p)
		}
	case 58:
		if src.Is6() {
			return d.icmp6(src, dst, p)
		}
	}
	return nil
}

// reset prepares d.ev for a new event of the current packet.
func (d *decoder) reset(src, dst netip.AddrPort, transport string) *Event {
	ev := &d.ev
	*ev = Event{
		Frame:     d.frame,
		Time:      d.ts,
		Iface:     d.ifaces[d.iface].name,
		Src:       src,
		Dst:       dst,
		Transport: transport,
		Direction: d.dir,
		Len:       d.origLen,
	}
	return ev
}
