package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// networkLayer finds the IPv4 or IPv6 header in a packet of link type lt. It
// returns the IP version (4 or 6) and the header's offset, or version 0 when
// the packet is not IP or too short to tell.
func networkLayer(lt layers.LinkType, data []byte) (version, off int) {
	var etherType uint16
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return 0, 0
		}
		etherType, off = binary.BigEndian.Uint16(data[12:]), 14
		if etherType == 0x8100 || etherType == 0x88a8 {
			if len(data) < 18 {
				return 0, 0
			}
			etherType, off = binary.BigEndian.Uint16(data[16:]), 18
		}
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return 0, 0
		}
		etherType, off = binary.BigEndian.Uint16(data[14:]), 16
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(data) < 1 {
			return 0, 0
		}
		switch data[0] >> 4 {
		case 4:
			etherType = 0x0800
		case 6:
			etherType = 0x86dd
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// 4-byte address family, host byte order for Null (Windows and
		// BSD loopback), network byte order for Loop.
		if len(data) < 5 {
			return 0, 0
		}
		off = 4
		switch data[4] >> 4 {
		case 4:
			etherType = 0x0800
		case 6:
			etherType = 0x86dd
		}
	default:
		return 0, 0
	}
	switch etherType {
	case 0x0800:
		if len(data) < off+20 || data[off]>>4 != 4 {
			return 0, 0
		}
		return 4, off
	case 0x86dd:
		if len(data) < off+40 || data[off]>>4 != 6 {
			return 0, 0
		}
		return 6, off
	}
	return 0, 0
}

// udpPayload returns the offset of the UDP payload and the UDP ports of a
// packet, or ok=false when the packet is not the first (or only) fragment of
// a UDP datagram over IPv4 or IPv6 (no extension headers).
func udpPayload(lt layers.LinkType, data []byte) (payload int, src, dst uint16, ok bool) {
	version, off := networkLayer(lt, data)
	switch version {
	case 4:
		ihl := int(data[off]&0x0f) * 4
		if ihl < 20 || data[off+9] != 17 || binary.BigEndian.Uint16(data[off+6:])&0x1fff != 0 {
			return 0, 0, 0, false
		}
		off += ihl
	case 6:
		if data[off+6] != 17 {
			return 0, 0, 0, false
		}
		off += 40
	default:
		return 0, 0, 0, false
	}
	if len(data) < off+8 {
		return 0, 0, 0, false
	}
	return off + 8, binary.BigEndian.Uint16(data[off:]), binary.BigEndian.Uint16(data[off+2:]), true
}

// rtpHeaderLen returns the length of the RTP fixed header and CSRC list at
// the start of p, or 0 when p does not look like RTP (version 2, at least 12
// bytes, payload type not in the RTCP range 192-223 of RFC 5761).
func rtpHeaderLen(p []byte) int {
	if len(p) < 12 || p[0]>>6 != 2 {
		return 0
	}
	if p[1] >= 192 && p[1] <= 223 {
		return 0 // RTCP
	}
	n := 12 + 4*int(p[0]&0x0f)
	if n > len(p) {
		return 0
	}
	return n
}

// trimRTP returns how many bytes of the captured packet to keep when RTP
// payloads are not wanted: up to the end of the RTP header for RTP packets
// with a UDP port in f's RTP range (rtp true), else all of data. The kernel
// filter may have cut such a packet there already.
func trimRTP(f Filter, lt layers.LinkType, data []byte) (n int, rtp bool) {
	payload, src, dst, ok := udpPayload(lt, data)
	if !ok || (!f.InRTPRange(int(src)) && !f.InRTPRange(int(dst))) {
		return len(data), false
	}
	h := rtpHeaderLen(data[payload:])
	if h == 0 {
		return len(data), false
	}
	return payload + h, true
}
