package hep

import (
	"encoding/binary"
	"fmt"
)

// Encode returns m as a HEP v3 message (m.Version is ignored). It fails when
// the addresses are not of one family or the message would exceed
// MaxMessage.
func Encode(m *Message) ([]byte, error) {
	src, dst := m.Src.Addr(), m.Dst.Addr()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("hep: source %s and destination %s must be valid addresses of one family", m.Src, m.Dst)
	}
	b := make([]byte, 6, 128+len(m.AuthKey)+len(m.Payload))
	copy(b, "HEP3")
	fam, sc, dc := byte(famIPv4), uint16(chSrc4), uint16(chDst4)
	if !src.Is4() {
		fam, sc, dc = famIPv6, chSrc6, chDst6
	}
	b = chunk(b, chFamily, []byte{fam})
	b = chunk(b, chProto, []byte{m.Proto})
	b = chunk(b, sc, src.AsSlice())
	b = chunk(b, dc, dst.AsSlice())
	b = chunk(b, chSrcPort, binary.BigEndian.AppendUint16(nil, m.Src.Port()))
	b = chunk(b, chDstPort, binary.BigEndian.AppendUint16(nil, m.Dst.Port()))
	b = chunk(b, chTimeSec, binary.BigEndian.AppendUint32(nil, uint32(m.Time.Unix())))
	b = chunk(b, chTimeUsec, binary.BigEndian.AppendUint32(nil, uint32(m.Time.Nanosecond()/1000)))
	b = chunk(b, chType, []byte{m.Type})
	b = chunk(b, chCaptID, binary.BigEndian.AppendUint32(nil, m.CaptureID))
	if m.AuthKey != "" {
		b = chunk(b, chAuthKey, []byte(m.AuthKey))
	}
	b = chunk(b, chPayload, m.Payload)
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("hep: message of %d bytes exceeds the HEP v3 maximum of %d", len(b), MaxMessage)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b, nil
}

func chunk(b []byte, typ uint16, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(min(6+len(v), 0xffff)))
	return append(b, v...)
}
