// Package hep decodes and encodes HEP (Homer Encapsulation Protocol)
// messages, versions 2 and 3: the SIP trace feed that PortSIP's Trace
// Server setting and Kamailio's siptrace module send. Each message carries
// one captured packet's payload with its original addresses, ports,
// transport and timestamp.
package hep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol types carried in a HEP message (chunk 11).
const (
	TypeSIP  uint8 = 1
	TypeRTCP uint8 = 5
)

// MaxMessage is the largest HEP message accepted: HEP v3's length field is
// 16 bits, so nothing larger is valid on the wire.
const MaxMessage = 65535

// Errors returned by Decode; wrapped with the detail of what was wrong.
var (
	ErrMagic     = errors.New("hep: not a HEP v2/v3 message (bad magic or version)")
	ErrTruncated = errors.New("hep: truncated message")
	ErrLength    = errors.New("hep: invalid length")
	ErrMissing   = errors.New("hep: required chunk missing")
	ErrInvalid   = errors.New("hep: invalid chunk")
)

// Message is one decoded HEP message.
type Message struct {
	// Version is 2 or 3.
	Version int
	// Proto is the IP protocol of the original packet (17 UDP, 6 TCP, 132 SCTP).
	Proto uint8
	// Src and Dst are the original packet's addresses and ports.
	Src, Dst netip.AddrPort
	// Time is when the sender captured the packet; zero for HEP v1, which
	// carries no time (the receiver then uses its own).
	Time time.Time
	// Type is the payload's protocol type (TypeSIP, TypeRTCP, ...); 0 for v2.
	Type uint8
	// CaptureID identifies the sending capture agent.
	CaptureID uint32
	// AuthKey is the shared secret the sender put in the message (v3 only).
	AuthKey string
	// Payload is the original packet's payload.
	Payload []byte
}

// Chunk type ids of the generic vendor (0), per the HEP v3 specification.
const (
	chFamily   = 1
	chProto    = 2
	chSrc4     = 3
	chDst4     = 4
	chSrc6     = 5
	chDst6     = 6
	chSrcPort  = 7
	chDstPort  = 8
	chTimeSec  = 9
	chTimeUsec = 10
	chType     = 11
	chCaptID   = 12
	chAuthKey  = 14
	chPayload  = 15
	chZPayload = 16
)

// Address families as HEP encodes them.
const (
	famIPv4 = 2
	famIPv6 = 10
)

// chunkSize is the fixed size, in bytes, of the data of fixed-width chunks;
// chunks not listed have variable size.
var chunkSize = map[uint16]int{
	chFamily: 1, chProto: 1, chSrc4: 4, chDst4: 4, chSrc6: 16, chDst6: 16,
	chSrcPort: 2, chDstPort: 2, chTimeSec: 4, chTimeUsec: 4, chType: 1,
}

// Decode parses one HEP v2 or v3 message that fills b exactly (v3) or
// starts b (v2, whose payload is the rest of b). The Payload aliases b.
func Decode(b []byte) (*Message, error) {
	if len(b) >= 4 && string(b[:4]) == "HEP3" {
		return decodeV3(b)
	}
	if len(b) >= 1 && (b[0] == 2 || b[0] == 1) {
		return decodeV2(b)
	}
	return nil, ErrMagic
}

// Length returns the total length of the HEP v3 message whose first six
// bytes are hdr, for reading it off a stream.
func Length(hdr []byte) (int, error) {
	if len(hdr) < 6 {
		return 0, ErrTruncated
	}
	if string(hdr[:4]) != "HEP3" {
		return 0, ErrMagic
	}
	n := int(binary.BigEndian.Uint16(hdr[4:6]))
	if n < 6 {
		return 0, fmt.Errorf("%w: total length %d is shorter than the header", ErrLength, n)
	}
	return n, nil
}

func decodeV3(b []byte) (*Message, error) {
	n, err := Length(b)
	if err != nil {
		return nil, err
	}
	if n > len(b) {
		return nil, fmt.Errorf("%w: header says %d bytes, got %d", ErrTruncated, n, len(b))
	}
	if n < len(b) {
		return nil, fmt.Errorf("%w: header says %d bytes, got %d (trailing data)", ErrLength, n, len(b))
	}
	m := &Message{Version: 3}
	var d v3state
	for off := 6; off < n; {
		if n-off < 6 {
			return nil, fmt.Errorf("%w: chunk header at offset %d", ErrTruncated, off)
		}
		vendor := binary.BigEndian.Uint16(b[off:])
		typ := binary.BigEndian.Uint16(b[off+2:])
		l := int(binary.BigEndian.Uint16(b[off+4:]))
		if l < 6 {
			return nil, fmt.Errorf("%w: chunk %d at offset %d has length %d", ErrLength, typ, off, l)
		}
		if l > n-off {
			return nil, fmt.Errorf("%w: chunk %d at offset %d needs %d bytes, %d left", ErrTruncated, typ, off, l, n-off)
		}
		if vendor == 0 {
			if err := d.chunk(m, typ, b[off+6:off+l]); err != nil {
				return nil, err
			}
		}
		off += l
	}
	return m, d.finish(m)
}

// v3state collects the chunks that combine into one field.
type v3state struct {
	family           uint8
	src4, dst4       []byte
	src6, dst6       []byte
	sport, dport     uint16
	sec, usec        uint32
	haveFam, havePay bool
}

func (d *v3state) chunk(m *Message, typ uint16, v []byte) error {
	if want, ok := chunkSize[typ]; ok && len(v) != want {
		return fmt.Errorf("%w: chunk %d has %d data bytes, want %d", ErrInvalid, typ, len(v), want)
	}
	switch typ {
	case chFamily:
		d.family, d.haveFam = v[0], true
	case chProto:
		m.Proto = v[0]
	case chSrc4:
		d.src4 = v
	case chDst4:
		d.dst4 = v
	case chSrc6:
		d.src6 = v
	case chDst6:
		d.dst6 = v
	case chSrcPort:
		d.sport = binary.BigEndian.Uint16(v)
	case chDstPort:
		d.dport = binary.BigEndian.Uint16(v)
	case chTimeSec:
		d.sec = binary.BigEndian.Uint32(v)
	case chTimeUsec:
		d.usec = binary.BigEndian.Uint32(v)
	case chType:
		m.Type = v[0]
	case chCaptID:
		switch len(v) {
		case 2:
			m.CaptureID = uint32(binary.BigEndian.Uint16(v))
		case 4:
			m.CaptureID = binary.BigEndian.Uint32(v)
		default:
			return fmt.Errorf("%w: capture id chunk has %d bytes, want 2 or 4", ErrInvalid, len(v))
		}
	case chAuthKey:
		m.AuthKey = string(v)
	case chPayload:
		m.Payload, d.havePay = v, true
	case chZPayload:
		return fmt.Errorf("%w: compressed payload (chunk 16) is not supported", ErrInvalid)
	}
	return nil
}

func (d *v3state) finish(m *Message) error {
	if !d.haveFam {
		return fmt.Errorf("%w: IP family (chunk 1)", ErrMissing)
	}
	if !d.havePay {
		return fmt.Errorf("%w: payload (chunk 15)", ErrMissing)
	}
	var src, dst netip.Addr
	switch d.family {
	case famIPv4:
		if d.src4 == nil || d.dst4 == nil {
			return fmt.Errorf("%w: IPv4 source or destination (chunks 3, 4)", ErrMissing)
		}
		src, dst = netip.AddrFrom4([4]byte(d.src4)), netip.AddrFrom4([4]byte(d.dst4))
	case famIPv6:
		if d.src6 == nil || d.dst6 == nil {
			return fmt.Errorf("%w: IPv6 source or destination (chunks 5, 6)", ErrMissing)
		}
		src, dst = netip.AddrFrom16([16]byte(d.src6)), netip.AddrFrom16([16]byte(d.dst6))
	default:
		return fmt.Errorf("%w: IP family %d (want 2 or 10)", ErrInvalid, d.family)
	}
	if d.usec >= 1e6 {
		return fmt.Errorf("%w: microseconds %d out of range", ErrInvalid, d.usec)
	}
	m.Src, m.Dst = netip.AddrPortFrom(src, d.sport), netip.AddrPortFrom(dst, d.dport)
	m.Time = time.Unix(int64(d.sec), int64(d.usec)*1000).UTC()
	return nil
}

// HEP v1/v2 fixed header: version, header length, family, protocol, ports.
const v2Head = 8

func decodeV2(b []byte) (*Message, error) {
	if len(b) < v2Head {
		return nil, fmt.Errorf("%w: %d bytes, v2 header needs %d", ErrTruncated, len(b), v2Head)
	}
	m := &Message{Version: int(b[0]), Proto: b[3]}
	alen := 0
	switch b[2] {
	case famIPv4:
		alen = 4
	case famIPv6:
		alen = 16
	default:
		return nil, fmt.Errorf("%w: IP family %d (want 2 or 10)", ErrInvalid, b[2])
	}
	hl := v2Head + 2*alen
	if int(b[1]) != hl && int(b[1]) != hl+12 {
		return nil, fmt.Errorf("%w: v%d header length %d, want %d for this family", ErrLength, b[0], b[1], hl)
	}
	if m.Version == 2 {
		hl += 12
	}
	if len(b) < hl {
		return nil, fmt.Errorf("%w: %d bytes, v%d header needs %d", ErrTruncated, len(b), b[0], hl)
	}
	sport, dport := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
	src, dst := b[8:8+alen], b[8+alen:8+2*alen]
	var s, d netip.Addr
	if alen == 4 {
		s, d = netip.AddrFrom4([4]byte(src)), netip.AddrFrom4([4]byte(dst))
	} else {
		s, d = netip.AddrFrom16([16]byte(src)), netip.AddrFrom16([16]byte(dst))
	}
	m.Src, m.Dst = netip.AddrPortFrom(s, sport), netip.AddrPortFrom(d, dport)
	if m.Version == 2 {
		// Kamailio and HOMER write the v2 time header in the sender's
		// (little-endian on every supported platform) byte order.
		t := b[8+2*alen:]
		sec, usec := binary.LittleEndian.Uint32(t), binary.LittleEndian.Uint32(t[4:])
		if usec >= 1e6 {
			return nil, fmt.Errorf("%w: microseconds %d out of range", ErrInvalid, usec)
		}
		m.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
		m.CaptureID = uint32(binary.LittleEndian.Uint16(t[8:]))
	}
	m.Payload = b[hl:]
	return m, nil
}
