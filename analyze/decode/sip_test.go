package decode

import (
	"reflect"
	"strings"
	"testing"
)

// crlf turns the LF line ends of a test message into CR LF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const sdpOffer = `v=0
o=- 3912 3912 IN IP4 192.168.1.20
s=PortSIP UAC
c=IN IP4 192.168.1.20
t=0 0
m=audio 45002 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
`

var inviteSDP = crlf(`INVITE sip:1002@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a1;rport
Max-Forwards: 70
Contact: <sip:1001@192.168.1.20:5060>
To: <sip:1002@198.51.100.10>
From: "Alice" <sip:1001@198.51.100.10>;tag=6c9a81f3
Call-ID: 5d1f0c2b-9e4a@192.168.1.20
CSeq: 1 INVITE
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE
Content-Type: application/sdp
User-Agent: PortSIP UAC v16.3
Content-Length: `+itoa(len(crlf(sdpOffer)))+`

`) + crlf(sdpOffer)

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

var trying = crlf(`SIP/2.0 100 Trying
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a1;rport=5060;received=203.0.113.7
To: <sip:1002@198.51.100.10>
From: "Alice" <sip:1001@198.51.100.10>;tag=6c9a81f3
Call-ID: 5d1f0c2b-9e4a@192.168.1.20
CSeq: 1 INVITE
Server: PortSIP PBX 22.1
Content-Length: 0

`)

var ringing = crlf(`SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds, SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a1
Via: SIP/2.0/TCP 10.0.0.9:5063;branch=z9hG4bKxyz
To: <sip:1002@198.51.100.10>;tag=as7d8f9
From: "Alice" <sip:1001@198.51.100.10>;tag=6c9a81f3
Call-ID: 5d1f0c2b-9e4a@192.168.1.20
CSeq: 1 INVITE
Contact: <sip:1002@10.0.0.7:5060>
User-Agent: Yealink SIP-T46U 108.86.0.20
Content-Length: 0

`)

var okSDP = crlf(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a1
To: <sip:1002@198.51.100.10>;tag=as7d8f9
From: "Alice" <sip:1001@198.51.100.10>;tag=6c9a81f3
Call-ID: 5d1f0c2b-9e4a@192.168.1.20
CSeq: 1 INVITE
Contact: <sip:1002@10.0.0.7:5060>
Content-Type: application/sdp
Content-Length: 126

v=0
o=root 1 1 IN IP4 10.0.0.7
s=call
c=IN IP4 10.0.0.7
t=0 0
m=audio 50000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=recvonly
`)

var proxyAuth = crlf(`SIP/2.0 407 Proxy Authentication Required
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-1;rport=5060
From: <sip:1001@198.51.100.10>;tag=abc
To: <sip:1002@198.51.100.10>;tag=pbx-1
Call-ID: call-407@192.168.1.20
CSeq: 1 INVITE
Proxy-Authenticate: Digest realm="198.51.100.10", nonce="1700000000:3a7d", algorithm=MD5, qop="auth"
Server: PortSIP PBX 22.1
Content-Length: 0

`)

var registerCompact = crlf(`REGISTER sip:198.51.100.10 SIP/2.0
v: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKreg1
f: <sip:1002@198.51.100.10>;tag=reg-tag
t: <sip:1002@198.51.100.10>
i: reg-call-1@10.0.0.7
CSeq: 7 REGISTER
m: <sip:1002@10.0.0.7:5060>;expires=3600
k: path, gruu
l: 0

`)

var folded = crlf(`OPTIONS sip:pbx@198.51.100.10 SIP/2.0
VIA: SIP/2.0/UDP 203.0.113.9:5060
 ;branch=z9hG4bKfold
from: <sip:trunk@203.0.113.9>;TAG=fold1
TO: <sip:pbx@198.51.100.10>
call-id: fold@203.0.113.9
cseq:   42   OPTIONS
Subject: a subject
	that continues
x-custom-HEADER: one
X-Custom-Header: two
Content-Length: 0

`)

func TestParseSIP(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		check func(t *testing.T, m *SIPMessage)
	}{
		{"invite with sdp", inviteSDP, func(t *testing.T, m *SIPMessage) {
			eq(t, "method", m.Method, "INVITE")
			eq(t, "uri", m.RequestURI, "sip:1002@198.51.100.10")
			eq(t, "call-id", m.CallID, "5d1f0c2b-9e4a@192.168.1.20")
			eq(t, "from tag", m.FromTag, "6c9a81f3")
			eq(t, "to tag", m.ToTag, "")
			eq(t, "cseq", m.CSeqNum, uint32(1))
			eq(t, "cseq method", m.CSeqMethod, "INVITE")
			eq(t, "ua", m.UserAgent, "PortSIP UAC v16.3")
			eq(t, "contact", m.Contact, "<sip:1001@192.168.1.20:5060>")
			eq(t, "via", len(m.Via), 1)
			eq(t, "content type", m.ContentType, "application/sdp")
			eq(t, "body", string(m.Body), crlf(sdpOffer))
			if m.SDP == nil {
				t.Fatal("no SDP")
			}
			eq(t, "sdp c", m.SDP.ConnAddr, "192.168.1.20")
			eq(t, "media", len(m.SDP.Media), 1)
			md := m.SDP.Media[0]
			eq(t, "port", md.Port, 45002)
			eq(t, "formats", md.Formats, []int{0, 8, 101})
			eq(t, "rtpmap", md.RTPMap, []string{"0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"})
			eq(t, "direction", md.Direction, "sendrecv")
			eq(t, "allow", m.Header("Allow"), "INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE")
			if !m.IsRequest() {
				t.Error("not a request")
			}
		}},
		{"100 trying", trying, func(t *testing.T, m *SIPMessage) {
			eq(t, "status", m.Status, 100)
			eq(t, "reason", m.Reason, "Trying")
			eq(t, "server as ua", m.UserAgent, "PortSIP PBX 22.1")
			eq(t, "body", len(m.Body), 0)
			if m.IsRequest() {
				t.Error("a request")
			}
		}},
		{"180 with via list", ringing, func(t *testing.T, m *SIPMessage) {
			eq(t, "status", m.Status, 180)
			eq(t, "to tag", m.ToTag, "as7d8f9")
			eq(t, "via", m.Via, []string{
				"SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds",
				"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a1",
				"SIP/2.0/TCP 10.0.0.9:5063;branch=z9hG4bKxyz",
			})
			eq(t, "via lines", len(m.Headers["Via"]), 2)
			eq(t, "ua", m.UserAgent, "Yealink SIP-T46U 108.86.0.20")
		}},
		{"200 with sdp cut to content-length", okSDP + "garbage after", func(t *testing.T, m *SIPMessage) {
			eq(t, "status", m.Status, 200)
			eq(t, "body len", len(m.Body), 126)
			if m.SDP == nil || len(m.SDP.Media) != 1 {
				t.Fatalf("SDP %+v", m.SDP)
			}
			eq(t, "origin", m.SDP.OriginAddr, "10.0.0.7")
			eq(t, "media c", m.SDP.Media[0].ConnAddr, "10.0.0.7")
			eq(t, "direction", m.SDP.Media[0].Direction, "recvonly")
		}},
		{"407", proxyAuth, func(t *testing.T, m *SIPMessage) {
			eq(t, "status", m.Status, 407)
			eq(t, "reason", m.Reason, "Proxy Authentication Required")
			eq(t, "proxy-authenticate", m.Header("Proxy-Authenticate"),
				`Digest realm="198.51.100.10", nonce="1700000000:3a7d", algorithm=MD5, qop="auth"`)
			eq(t, "to tag", m.ToTag, "pbx-1")
		}},
		{"register compact", registerCompact, func(t *testing.T, m *SIPMessage) {
			eq(t, "method", m.Method, "REGISTER")
			eq(t, "call-id", m.CallID, "reg-call-1@10.0.0.7")
			eq(t, "from tag", m.FromTag, "reg-tag")
			eq(t, "via", m.Via, []string{"SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKreg1"})
			eq(t, "contact", m.Contact, "<sip:1002@10.0.0.7:5060>;expires=3600")
			eq(t, "supported", m.Header("Supported"), "path, gruu")
			eq(t, "content-length", m.Header("Content-Length"), "0")
			eq(t, "cseq", m.CSeqNum, uint32(7))
			for _, short := range []string{"v", "f", "t", "i", "m", "k", "l"} {
				if _, ok := m.Headers[short]; ok {
					t.Errorf("compact name %q kept", short)
				}
			}
		}},
		{"folded and odd case", folded, func(t *testing.T, m *SIPMessage) {
			eq(t, "via", m.Via, []string{"SIP/2.0/UDP 203.0.113.9:5060 ;branch=z9hG4bKfold"})
			eq(t, "from tag", m.FromTag, "fold1")
			eq(t, "call-id", m.CallID, "fold@203.0.113.9")
			eq(t, "cseq", m.CSeqNum, uint32(42))
			eq(t, "cseq method", m.CSeqMethod, "OPTIONS")
			eq(t, "subject", m.Header("Subject"), "a subject that continues")
			eq(t, "custom", m.Headers["X-Custom-Header"], []string{"one", "two"})
		}},
		{"bare LF line ends", strings.ReplaceAll(trying, "\r\n", "\n"), func(t *testing.T, m *SIPMessage) {
			eq(t, "status", m.Status, 100)
			eq(t, "call-id", m.CallID, "5d1f0c2b-9e4a@192.168.1.20")
		}},
		{"multipart sdp", crlf(`INVITE sip:911@198.51.100.10 SIP/2.0
Via: SIP/2.0/TCP 10.0.0.7:5063;branch=z9hG4bKmp
Call-ID: mp@10.0.0.7
CSeq: 1 INVITE
Content-Type: multipart/mixed;boundary=unique-boundary-1

--unique-boundary-1
Content-Type: application/sdp

v=0
o=- 1 1 IN IP4 10.0.0.7
c=IN IP4 10.0.0.7
m=audio 40000 RTP/AVP 8
--unique-boundary-1
Content-Type: application/pidf+xml

<presence/>
--unique-boundary-1--
`), func(t *testing.T, m *SIPMessage) {
			if m.SDP == nil || len(m.SDP.Media) != 1 || m.SDP.Media[0].Port != 40000 {
				t.Fatalf("SDP %+v", m.SDP)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !looksLikeSIP([]byte(tt.msg)) {
				t.Error("looksLikeSIP false")
			}
			m, err := ParseSIP([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

func TestParseSIPErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"hello world",
		"SIP/2.0 99 Low\r\n\r\n",
		"SIP/2.0 abc OK\r\n\r\n",
		"INVITE sip:x SIP/3.0\r\n\r\n",
		"INVITE\r\n\r\n",
		"\x80\x00\x01\x02",
	} {
		if _, err := ParseSIP([]byte(s)); err == nil {
			t.Errorf("ParseSIP(%q): no error", s)
		}
	}
}

func TestLooksLikeSIP(t *testing.T) {
	for s, want := range map[string]bool{
		"SIP/2.0 200 OK\r\n":                 true,
		"INVITE sip:1@a SIP/2.0\r\n":         true,
		"OPTIONS sip:a SIP/2.0":              true,
		"GET / HTTP/1.1\r\n":                 false,
		"INVITE sip:1@a\r\nSIP/2.0":          false,
		"invite sip:1@a SIP/2.0\r\n":         false,
		"SIP/2.0 2OO OK\r\n":                 false,
		"\r\n\r\n":                           false,
		"NOTIFY sip:a b SIP/2.0\r\n":         false,
		"SIP/2.0 180\r\n":                    true,
		"REGISTER sip:example.com SIP/2.0\n": true,
		"X-VERY-LONG-METHOD-NAME-THAT-IS-LONGER-THAN-ALLOWED sip:a SIP/2.0\r\n": false,
	} {
		if got := looksLikeSIP([]byte(s)); got != want {
			t.Errorf("looksLikeSIP(%q) = %v", s, got)
		}
	}
}

func TestCanonicalHeader(t *testing.T) {
	for in, want := range map[string]string{
		"i": "Call-ID", "I": "Call-ID", "call-id": "Call-ID", "CALL-ID": "Call-ID",
		"cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "v": "Via",
		"x-foo-bar": "X-Foo-Bar", "X-Foo-Bar": "X-Foo-Bar", "q": "Q",
		"user-agent": "User-Agent", "mime-version": "MIME-Version",
	} {
		if got := canonicalHeader(in); got != want {
			t.Errorf("canonicalHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name string
		sdp  string
		want *SDPBody
	}{
		{"private c= and media-level c=", crlf(`v=0
o=user 123 456 IN IP4 192.168.0.10
s=-
c=IN IP4 192.168.0.10
t=0 0
a=sendonly
m=audio 16384 RTP/AVP 18 0 101
c=IN IP4 10.20.30.40/127
a=rtpmap:18 G729/8000
a=rtpmap:101 telephone-event/8000
m=video 0 RTP/AVP 96
a=inactive
m=image 4000 udptl t38
`), &SDPBody{
			OriginAddr: "192.168.0.10", ConnAddr: "192.168.0.10", Direction: "sendonly",
			Media: []SDPMedia{
				{Type: "audio", Port: 16384, Proto: "RTP/AVP", Formats: []int{18, 0, 101}, ConnAddr: "10.20.30.40",
					RTPMap: []string{"18 G729/8000", "101 telephone-event/8000"}, Direction: "sendonly"},
				{Type: "video", Port: 0, Proto: "RTP/AVP", Formats: []int{96}, ConnAddr: "192.168.0.10", Direction: "inactive"},
				{Type: "image", Port: 4000, Proto: "udptl", ConnAddr: "192.168.0.10", Direction: "sendonly"},
			},
		}},
		{"ipv6 and port count", "v=0\no=- 1 1 IN IP6 2001:db8::1\nc=IN IP6 2001:db8::1\nm=audio 5004/2 RTP/SAVP 0\n", &SDPBody{
			OriginAddr: "2001:db8::1", ConnAddr: "2001:db8::1",
			Media: []SDPMedia{{Type: "audio", Port: 5004, Proto: "RTP/SAVP", Formats: []int{0}, ConnAddr: "2001:db8::1", Direction: "sendrecv"}},
		}},
		{"hold with 0.0.0.0", "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 40000 RTP/AVP 8\r\na=sendonly\r\n", &SDPBody{
			ConnAddr: "0.0.0.0",
			Media:    []SDPMedia{{Type: "audio", Port: 40000, Proto: "RTP/AVP", Formats: []int{8}, ConnAddr: "0.0.0.0", Direction: "sendonly"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSDP([]byte(tt.sdp))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := ParseSDP([]byte("not sdp at all")); err == nil {
		t.Error("no error for a body without SDP lines")
	}
}

func TestParseRTP(t *testing.T) {
	payload := make([]byte, 160)
	tests := []struct {
		name string
		pkt  []byte
		want RTPHeader
		ok   bool
	}{
		{"plain PCMU", append([]byte{0x80, 0x00, 0x12, 0x34, 0, 0, 0x03, 0x20, 0xde, 0xad, 0xbe, 0xef}, payload...),
			RTPHeader{PayloadType: 0, Seq: 0x1234, Timestamp: 800, SSRC: 0xdeadbeef, PayloadLen: 160, HeaderLen: 12}, true},
		{"marker, 2 CSRCs", append([]byte{0x82, 0x88, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 1, 2, 2, 2, 2}, payload...),
			RTPHeader{PayloadType: 8, Marker: true, Seq: 1, Timestamp: 1, SSRC: 2, PayloadLen: 160, CSRCCount: 2, HeaderLen: 20}, true},
		{"extension", append([]byte{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, payload[:20]...),
			RTPHeader{PayloadType: 96, Seq: 1, Timestamp: 1, SSRC: 2, PayloadLen: 20, Extension: true, HeaderLen: 20}, true},
		{"padding", append([]byte{0xa0, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2}, 1, 2, 3, 4, 0, 0, 0, 4),
			RTPHeader{Seq: 1, Timestamp: 1, SSRC: 2, PayloadLen: 4, Padding: true, HeaderLen: 12}, true},
		{"padding too long", []byte{0xa0, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 9}, RTPHeader{}, false},
		{"padding zero", []byte{0xa0, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 0}, RTPHeader{}, false},
		{"version 1", []byte{0x40, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1}, RTPHeader{}, false},
		{"short", []byte{0x80, 0, 0, 1}, RTPHeader{}, false},
		{"CSRCs beyond end", []byte{0x8f, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4}, RTPHeader{}, false},
		{"extension beyond end", []byte{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 9}, RTPHeader{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRTP(tt.pkt)
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if ok && got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}
