package decode

import (
	"encoding/binary"
	"net/netip"
)

// icmp4 decodes ICMP errors about UDP datagrams.
func (d *decoder) icmp4(src, dst netip.Addr, p []byte) error {
	if len(p) < 8 {
		return d.malformed()
	}
	typ, code := p[0], p[1]
	if typ != 3 && typ != 11 && typ != 12 {
		return nil
	}
	in := p[8:]
	if len(in) < 20 || in[0]>>4 != 4 {
		return d.malformed()
	}
	ihl := int(in[0]&0x0f) * 4
	if ihl < 20 || len(in) < ihl+4 {
		return d.malformed()
	}
	if in[9] != 17 {
		return nil
	}
	osrc := netip.AddrFrom4([4]byte(in[12:16]))
	odst := netip.AddrFrom4([4]byte(in[16:20]))
	u := in[ihl:]
	return d.icmpEvent(src, dst, typ, code, false, osrc, odst, u, typ == 3 && code == 3)
}

// icmp6 decodes ICMPv6 errors about UDP datagrams.
func (d *decoder) icmp6(src, dst netip.Addr, p []byte) error {
	if len(p) < 8 {
		return d.malformed()
	}
	typ, code := p[0], p[1]
	if typ < 1 || typ > 4 {
		return nil
	}
	in := p[8:]
	if len(in) < 40 || in[0]>>4 != 6 {
		return d.malformed()
	}
	next := in[6]
	osrc := netip.AddrFrom16([16]byte(in[8:24]))
	odst := netip.AddrFrom16([16]byte(in[24:40]))
	u := in[40:]
	for range 8 {
		switch next {
		case 0, 43, 60:
			if len(u) < 2 || (int(u[1])+1)*8 > len(u) {
				return d.malformed()
			}
			next, u = u[0], u[(int(u[1])+1)*8:]
			continue
		case 44:
			if len(u) < 8 {
				return d.malformed()
			}
			if binary.BigEndian.Uint16(u[2:])&0xfff8 != 0 {
				return nil // not the first fragment: no UDP header
			}
			next, u = u[0], u[8:]
			continue
		case 17:
			if len(u) < 4 {
				return d.malformed()
			}
			return d.icmpEvent(src, dst, typ, code, true, osrc, odst, u, typ == 1 && code == 4)
		}
		return nil
	}
	return nil
}

func (d *decoder) icmpEvent(src, dst netip.Addr, typ, code uint8, v6 bool, osrc, odst netip.Addr, u []byte, portUnreach bool) error {
	d.icmp = ICMPError{
		Type: typ, Code: code, V6: v6,
		OrigSrc:         netip.AddrPortFrom(osrc, binary.BigEndian.Uint16(u)),
		OrigDst:         netip.AddrPortFrom(odst, binary.BigEndian.Uint16(u[2:])),
		PortUnreachable: portUnreach,
	}
	d.stats.ICMP++
	ev := d.reset(netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0), "icmp")
	ev.ICMP = &d.icmp
	return d.fn(ev)
}
