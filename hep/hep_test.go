package hep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var sipInvite = []byte("INVITE sip:100@example.com SIP/2.0\r\nCall-ID: abc@host\r\nContent-Length: 0\r\n\r\n")

func sample() *Message {
	return &Message{
		Version: 3, Proto: 6,
		Src:  netip.MustParseAddrPort("192.0.2.10:5061"),
		Dst:  netip.MustParseAddrPort("198.51.100.7:40123"),
		Time: time.Date(2026, 12, 4, 15, 0, 1, 123456000, time.UTC),
		Type: TypeSIP, CaptureID: 2001, AuthKey: "s3cret", Payload: sipInvite,
	}
}

func TestRoundTripV3(t *testing.T) {
	for _, src := range []string{"192.0.2.10:5061", "[2001:db8::1]:5061"} {
		m := sample()
		m.Src = netip.MustParseAddrPort(src)
		if m.Src.Addr().Is6() {
			m.Dst = netip.MustParseAddrPort("[2001:db8::2]:5060")
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got.Src != m.Src || got.Dst != m.Dst || !got.Time.Equal(m.Time) || got.Proto != 6 ||
			got.Type != TypeSIP || got.CaptureID != 2001 || got.AuthKey != "s3cret" ||
			!bytes.Equal(got.Payload, sipInvite) || got.Version != 3 {
			t.Fatalf("%s: round trip: got %+v", src, got)
		}
	}
}

// handV3 builds a HEP v3 message chunk by chunk, independent of Encode.
func handV3(chunks ...[]byte) []byte {
	b := []byte("HEP3\x00\x00")
	for _, c := range chunks {
		b = append(b, c...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

func ch(typ uint16, v ...byte) []byte {
	b := []byte{0, 0, byte(typ >> 8), byte(typ), 0, byte(6 + len(v))}
	return append(b, v...)
}

func TestDecodeHandBuiltV3(t *testing.T) {
	b := handV3(
		ch(1, 2), ch(2, 17), ch(3, 10, 0, 0, 1), ch(4, 10, 0, 0, 2),
		ch(7, 0x13, 0xc4), ch(8, 0x13, 0xc5), ch(9, 0x69, 0x31, 0x2f, 0x00), ch(10, 0, 0, 0, 5),
		ch(11, 1), ch(12, 0, 0, 0, 7), []byte{0x00, 0x01, 0x00, 0x01, 0x00, 0x07, 0xff}, // vendor chunk skipped
		ch(14, 'k', 'e', 'y'), ch(15, []byte("OPTIONS")...),
	)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Src.String() != "10.0.0.1:5060" || m.Dst.String() != "10.0.0.2:5061" || m.Proto != 17 ||
		m.Time.Unix() != 0x69312f00 || m.Time.Nanosecond() != 5000 || m.AuthKey != "key" ||
		string(m.Payload) != "OPTIONS" || m.CaptureID != 7 || m.Type != 1 {
		t.Fatalf("got %+v", m)
	}
}

func TestDecodeV2(t *testing.T) {
	b := []byte{2, 16, 2, 17, 0x13, 0xc4, 0x13, 0xc4, 127, 0, 0, 1, 127, 0, 0, 2}
	b = binary.LittleEndian.AppendUint32(b, 1700000000)
	b = binary.LittleEndian.AppendUint32(b, 250)
	b = binary.LittleEndian.AppendUint16(b, 9)
	b = append(b, 0, 0)
	b = append(b, "BYE sip:x SIP/2.0\r\n\r\n"...)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 2 || m.Src.String() != "127.0.0.1:5060" || m.Dst.String() != "127.0.0.2:5060" ||
		m.Time.Unix() != 1700000000 || m.Time.Nanosecond() != 250000 || m.CaptureID != 9 ||
		string(m.Payload) != "BYE sip:x SIP/2.0\r\n\r\n" {
		t.Fatalf("got %+v", m)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	setLen := func(b []byte, n int) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint16(b[4:], uint16(n))
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMagic},
		{"bad magic", append([]byte("HEP4"), good[4:]...), ErrMagic},
		{"short header", good[:5], ErrTruncated},
		{"truncated body", good[:len(good)-3], ErrTruncated},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrLength},
		{"total length below header", setLen(good, 3), ErrLength},
		{"chunk length below header", handV3(ch(1, 2), []byte{0, 0, 0, 15, 0, 2}), ErrLength},
		{"chunk past the end", handV3(ch(1, 2), []byte{0, 0, 0, 15, 0xff, 0xf0, 'x'}), ErrTruncated},
		{"half a chunk header", handV3(ch(1, 2), []byte{0, 0, 0}), ErrTruncated},
		{"wrong fixed size", handV3(ch(1, 2, 2)), ErrInvalid},
		{"unknown family", handV3(ch(1, 7), ch(15, 'x')), ErrInvalid},
		{"no payload", handV3(ch(1, 2), ch(3, 1, 2, 3, 4), ch(4, 1, 2, 3, 4)), ErrMissing},
		{"no family", handV3(ch(15, 'x')), ErrMissing},
		{"no address", handV3(ch(1, 10), ch(15, 'x')), ErrMissing},
		{"usec out of range", handV3(ch(1, 2), ch(3, 1, 2, 3, 4), ch(4, 1, 2, 3, 4), ch(10, 0x7f, 0, 0, 0), ch(15, 'x')), ErrInvalid},
		{"compressed", handV3(ch(16, 'x')), ErrInvalid},
		{"v2 short", []byte{2, 16, 2, 17, 0}, ErrTruncated},
		{"v2 bad header length", append([]byte{2, 99, 2, 17}, make([]byte, 40)...), ErrLength},
		{"v2 no time header", []byte{2, 16, 2, 17, 0, 1, 0, 2, 1, 1, 1, 1, 2, 2, 2, 2}, ErrTruncated},
	}
	for _, c := range cases {
		if _, err := Decode(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	m := sample()
	m.Dst = netip.MustParseAddrPort("[2001:db8::2]:5060")
	if _, err := Encode(m); err == nil {
		t.Error("mixed families encoded")
	}
	m = sample()
	m.Payload = make([]byte, MaxMessage)
	if _, err := Encode(m); err == nil {
		t.Error("oversized message encoded")
	}
}

func TestLength(t *testing.T) {
	b, _ := Encode(sample())
	if n, err := Length(b[:6]); err != nil || n != len(b) {
		t.Fatalf("Length = %d, %v; want %d", n, err, len(b))
	}
}
