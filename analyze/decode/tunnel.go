package decode

import "encoding/binary"

// Tunnels carried inside a capture: PPPoE sessions, GRE, VXLAN and GTP-U.
// Each unwraps its payload and decodes it again, to a bounded depth.

// maxNesting bounds tunnels within tunnels.
const maxNesting = 4

// Well-known tunnel ports.
const (
	portVXLAN = 4789
	portGTPU  = 2152
)

// ethernet decodes an Ethernet II frame.
func (d *decoder) ethernet(data []byte) error {
	if len(data) < 14 {
		return d.malformed()
	}
	return d.etherType(binary.BigEndian.Uint16(data[12:]), data[14:])
}

// etherType decodes a payload by its EtherType, through VLAN tags
// (802.1Q, 802.1ad and the older QinQ tags) and PPPoE.
func (d *decoder) etherType(et uint16, data []byte) error {
	for i := 0; i < 4 && (et == 0x8100 || et == 0x88a8 || et == 0x9100 || et == 0x9200); i++ {
		if len(data) < 4 {
			return d.malformed()
		}
		et, data = binary.BigEndian.Uint16(data[2:]), data[4:]
	}
	switch et {
	case 0x0800, 0x86dd:
		return d.ip(data)
	case 0x8864:
		return d.pppoe(data)
	}
	return nil
}

// nested runs fn one tunnel level deeper, or counts the packet as
// malformed past maxNesting.
func (d *decoder) nested(fn func() error) error {
	if d.depth >= maxNesting {
		return d.malformed()
	}
	d.depth++
	defer func() { d.depth-- }()
	return fn()
}

// pppoe decodes a PPPoE session frame (RFC 2516) carrying IPv4 or IPv6.
func (d *decoder) pppoe(b []byte) error {
	if len(b) < 8 || b[0] != 0x11 || b[1] != 0 {
		return d.malformed()
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < 2 || 6+n > len(b) {
		return d.malformed()
	}
	switch binary.BigEndian.Uint16(b[6:]) {
	case 0x0021, 0x0057:
		return d.ip(b[8 : 6+n])
	}
	return nil
}

// gre decodes a GRE packet (RFC 2784/2890) carrying IP or Ethernet.
func (d *decoder) gre(b []byte) error {
	if len(b) < 4 {
		return d.malformed()
	}
	flags := binary.BigEndian.Uint16(b)
	if flags&7 != 0 { // version 1 is PPTP's enhanced GRE: PPP inside
		return nil
	}
	n := 4
	for _, bit := range []uint16{0x8000, 0x2000, 0x1000} { // checksum, key, sequence
		if flags&bit != 0 {
			n += 4
		}
	}
	if len(b) < n {
		return d.malformed()
	}
	proto, p := binary.BigEndian.Uint16(b[2:]), b[n:]
	return d.nested(func() error {
		if proto == 0x6558 { // transparent Ethernet bridging
			return d.ethernet(p)
		}
		return d.etherType(proto, p)
	})
}

// udpTunnel decodes VXLAN and GTP-U datagrams; it reports false for any
// other datagram.
func (d *decoder) udpTunnel(sp, dp uint16, p []byte) (bool, error) {
	switch {
	case dp == portVXLAN && len(p) >= 8+14 && p[0]&0x08 != 0:
		return true, d.nested(func() error { return d.ethernet(p[8:]) })
	case (dp == portGTPU || sp == portGTPU) && len(p) >= 8 && p[0]>>5 == 1 && p[0]&0x10 != 0:
		if p[1] != 0xff { // not a G-PDU: signalling of the tunnel itself
			return true, nil
		}
		inner, ok := gtpPayload(p)
		if !ok {
			return true, d.malformed()
		}
		return true, d.nested(func() error { return d.ip(inner) })
	}
	return false, nil
}

// gtpPayload returns the T-PDU of a GTPv1-U G-PDU (3GPP TS 29.281 §5),
// skipping the optional fields and extension headers.
func gtpPayload(p []byte) ([]byte, bool) {
	end := 8 + int(binary.BigEndian.Uint16(p[2:]))
	if end > len(p) {
		return nil, false
	}
	n := 8
	if p[0]&0x07 != 0 { // E, S or PN: sequence, N-PDU number, next extension type
		if end < 12 {
			return nil, false
		}
		n = 12
		for next := p[11]; next != 0; {
			if n >= end {
				return nil, false
			}
			l := int(p[n]) * 4
			if l == 0 || n+l > end {
				return nil, false
			}
			next = p[n+l-1]
			n += l
		}
	}
	return p[n:end], true
}
