package recorder

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// sipStream is a pcapng stream of n SIP messages shaped like sipp's
// INVITE dialogs (about 450 bytes each, a new Call-ID every 6 messages).
func sipStream(b testing.TB, n int) []byte {
	b.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "lo", LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "pbxagent"}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		call := i / 6
		msg := fmt.Appendf(nil, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%d-1-0\r\n"+
			"From: sipp <sip:sipp@127.0.0.1:5070>;tag=%d\r\nTo: sut <sip:service@127.0.0.1:5060>;tag=%d\r\n"+
			"Call-ID: %d-12345@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.1:5060;transport=UDP>\r\n"+
			"Content-Type: application/sdp\r\nContent-Length: 129\r\n\r\nv=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"+
			"s=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", call, call, i, call)
		pkt := append(make([]byte, 28), msg...) // IPv4 and UDP headers
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(pkt), Length: len(pkt)}
		if err := w.WritePacket(ci, pkt); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkRingWriteSIP measures the ring's per-packet path for SIP: the
// packet blocks handed over in 64 KiB writes as the capture's buffer does,
// and a flush (the end of a gzip member) every 256 KiB, about once a
// second at 100 calls/s.
func BenchmarkRingWriteSIP(b *testing.B) {
	const n = 6000
	data := sipStream(b, n)
	_, hdr, _, _ := blockLen(data)
	_, idb, _, _ := blockLen(data[hdr:])
	header, packets := data[:hdr+idb], data[hdr+idb:]
	r, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Write(header); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(packets)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(packets); off += 64 << 10 {
			if _, err := r.Write(packets[off:min(off+64<<10, len(packets))]); err != nil {
				b.Fatal(err)
			}
			if off%(256<<10) == 0 {
				r.Flushed()
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}
