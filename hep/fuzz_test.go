package hep

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that no input panics, and that every message Decode
// accepts survives an Encode/Decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	good, _ := Encode(sample())
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte{2, 16, 2, 17, 0x13, 0xc4, 0x13, 0xc4, 127, 0, 0, 1, 127, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 'x'})
	f.Add(handV3(ch(1, 10), ch(5, make([]byte, 16)...), ch(6, make([]byte, 16)...), ch(15, 'x')))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if !m.Src.Addr().IsValid() || !m.Dst.Addr().IsValid() {
			t.Fatalf("accepted without addresses: %+v", m)
		}
		if len(m.Payload) > len(b) {
			t.Fatalf("payload longer than input")
		}
		enc, err := Encode(m)
		if err != nil {
			if len(b) > MaxMessage-200 {
				return
			}
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded: %v", err)
		}
		if m2.Src != m.Src || m2.Dst != m.Dst || (m.Version > 1 && !m2.Time.Equal(m.Time)) || !bytes.Equal(m2.Payload, m.Payload) || m2.AuthKey != m.AuthKey {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}
