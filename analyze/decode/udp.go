package decode

import (
	"encoding/binary"
	"net/netip"
)

// udp decodes a UDP datagram: a tunnel, SIP, or media.
func (d *decoder) udp(src, dst netip.Addr, p []byte) error {
	if len(p) < 8 {
		return d.malformed()
	}
	sp := binary.BigEndian.Uint16(p)
	dp := binary.BigEndian.Uint16(p[2:])
	p, wire, ok := d.udpData(p)
	if !ok {
		return d.malformed()
	}
	if len(p) == 0 {
		return nil
	}
	srcAP, dstAP := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	if tunnel, err := d.udpTunnel(sp, dp, p); tunnel {
		return err
	}
	if c := p[0]; c >= 'A' && c <= 'Z' {
		return d.udpSIP(srcAP, dstAP, p)
	}
	return d.udpMedia(srcAP, dstAP, p, wire)
}

// udpData is a datagram's payload (p starts at the UDP header) cut to the
// UDP length, and that length without the header; false when malformed.
func (d *decoder) udpData(p []byte) ([]byte, int, bool) {
	ulen := int(binary.BigEndian.Uint16(p[4:]))
	if ulen < 8 {
		if ulen != 0 { // 0: IPv6 jumbogram or offload
			return nil, 0, false
		}
		ulen = len(p)
	}
	wire := ulen - 8
	p = p[8:]
	switch {
	case wire <= len(p):
		p = p[:wire]
	case !d.cut:
		return nil, 0, false
	}
	return p, wire, true
}

// udpSIP decodes a datagram that starts with a capital letter: SIP, or
// nothing of interest.
func (d *decoder) udpSIP(src, dst netip.AddrPort, p []byte) error {
	if !looksLikeSIP(p) {
		return nil
	}
	m, err := ParseSIP(p)
	if err != nil {
		return d.malformed()
	}
	d.stats.SIP++
	d.learnSDP(m)
	ev := d.reset(src, dst, "udp")
	ev.SIP = m
	return d.fn(ev)
}

// udpMedia counts T.38 and RTCP and decodes RTP: on the ports an SDP
// announced, else on a configured RTP range.
func (d *decoder) udpMedia(src, dst netip.AddrPort, p []byte, wire int) error {
	c := p[0]
	switch d.mediaKind(src, dst) {
	case MediaUDPTL:
		d.stats.UDPTL++
		return nil
	case MediaRTCP:
		if c>>6 == 2 {
			d.stats.RTCP++
		}
		return nil
	case MediaRTP:
		if c>>6 == 2 {
			return d.rtpPacket(src, dst, p, wire)
		}
		return nil
	}
	sp, dp := src.Port(), dst.Port()
	if c>>6 == 2 && sp >= 1024 && dp >= 1024 && (d.inRTP(sp) || d.inRTP(dp)) {
		return d.rtpPacket(src, dst, p, wire)
	}
	return nil
}

// rtpPacket decodes an RTP (or multiplexed RTCP) datagram.
func (d *decoder) rtpPacket(src, dst netip.AddrPort, p []byte, wire int) error {
	if len(p) < 12 {
		return nil
	}
	if pt := p[1] & 0x7f; pt >= 64 && pt <= 95 {
		// RTCP multiplexed on the RTP port (RFC 5761 §4), or a payload
		// type RTP avoids because it would look like RTCP.
		if pt >= 72 && pt <= 76 {
			d.stats.RTCP++
		}
		return nil
	}
	h, ok := ParseRTP(p)
	if !ok {
		if !d.cut {
			return nil
		}
		// Cut by the snap length: the padding count is not there.
		if h, ok = parseRTPHeader(p); !ok {
			return nil
		}
	}
	if wire > len(p) {
		h.PayloadLen = max(0, wire-h.HeaderLen)
	}
	d.rtp = h
	d.stats.RTP++
	ev := d.reset(src, dst, "udp")
	ev.RTP = &d.rtp
	return d.fn(ev)
}
