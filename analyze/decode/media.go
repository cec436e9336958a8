package decode

import (
	"net/netip"
	"strings"
)

// MediaKind is what a UDP port announced in SDP carries.
type MediaKind uint8

// Media kinds.
const (
	// MediaNone: the port was not announced.
	MediaNone MediaKind = iota
	// MediaRTP: the port of an m= line with an RTP profile.
	MediaRTP
	// MediaRTCP: the port after an RTP port (RFC 3550 §11).
	MediaRTCP
	// MediaUDPTL: the port of a T.38 fax m= line over UDPTL.
	MediaUDPTL
)

// maxAnnounced bounds the media addresses learnt from SDP; beyond it only
// the configured RTP port ranges find media.
const maxAnnounced = 1 << 17

// PortRange is an inclusive UDP port range.
type PortRange struct{ Low, High int }

func (r PortRange) has(p uint16) bool { return int(p) >= r.Low && int(p) <= r.High }

// learnSDP records the media addresses a SIP message's SDP announces, so
// that media is found on any port, as the signalling says.
func (d *decoder) learnSDP(m *SIPMessage) {
	if m.SDP == nil {
		return
	}
	for _, md := range m.SDP.Media {
		ip, err := netip.ParseAddr(md.ConnAddr)
		if err != nil || md.Port <= 0 || md.Port > 65534 || ip.IsUnspecified() {
			continue
		}
		ip = ip.Unmap()
		proto := strings.ToUpper(md.Proto)
		switch {
		case strings.Contains(proto, "UDPTL"):
			d.announce(netip.AddrPortFrom(ip, uint16(md.Port)), MediaUDPTL)
		case strings.HasPrefix(proto, "RTP/") || strings.Contains(proto, "/RTP/"):
			d.announce(netip.AddrPortFrom(ip, uint16(md.Port)), MediaRTP)
			d.announce(netip.AddrPortFrom(ip, uint16(md.Port+1)), MediaRTCP)
		}
	}
}

func (d *decoder) announce(ap netip.AddrPort, k MediaKind) {
	if d.media == nil {
		d.media = map[netip.AddrPort]MediaKind{}
	}
	if _, ok := d.media[ap]; !ok && len(d.media) >= maxAnnounced {
		return
	}
	d.media[ap] = k
}

// mediaKind says what the SDP announced for either end of a datagram,
// the destination first.
func (d *decoder) mediaKind(src, dst netip.AddrPort) MediaKind {
	if len(d.media) == 0 {
		return MediaNone
	}
	if k := d.media[netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())]; k != MediaNone {
		return k
	}
	return d.media[netip.AddrPortFrom(src.Addr().Unmap(), src.Port())]
}

// inRTP reports whether a port lies in one of the configured RTP ranges.
func (d *decoder) inRTP(p uint16) bool {
	for _, r := range d.rtpRanges {
		if r.has(p) {
			return true
		}
	}
	return false
}
