package decode

import "encoding/binary"

// ParseRTP decodes the RTP header at the start of b. It reports false
// unless b holds a version 2 header whose CSRC list, extension and padding
// fit in b. It does not allocate.
func ParseRTP(b []byte) (RTPHeader, bool) {
	h, ok := parseRTPHeader(b)
	if !ok {
		return h, false
	}
	n := len(b) - h.HeaderLen
	if h.Padding {
		pad := int(b[len(b)-1])
		if pad == 0 || pad > n {
			return h, false
		}
		n -= pad
	}
	h.PayloadLen = n
	return h, true
}

// parseRTPHeader decodes the header up to the payload, ignoring padding;
// PayloadLen is what follows the header.
func parseRTPHeader(b []byte) (RTPHeader, bool) {
	var h RTPHeader
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, false
	}
	h.Padding = b[0]&0x20 != 0
	h.Extension = b[0]&0x10 != 0
	h.CSRCCount = b[0] & 0x0f
	h.Marker = b[1]&0x80 != 0
	h.PayloadType = b[1] & 0x7f
	h.Seq = binary.BigEndian.Uint16(b[2:])
	h.Timestamp = binary.BigEndian.Uint32(b[4:])
	h.SSRC = binary.BigEndian.Uint32(b[8:])
	n := 12 + 4*int(h.CSRCCount)
	if h.Extension {
		if len(b) < n+4 {
			return h, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	if n > len(b) {
		return h, false
	}
	h.HeaderLen = n
	h.PayloadLen = len(b) - n
	return h, true
}
