package recorder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// rtpStream is a pcapng stream of n RTP-header-sized packets (no SIP),
// which compress well.
func rtpStream(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "lo", LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "pbxagent"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		pkt := make([]byte, 40)
		pkt[28], pkt[30], pkt[31] = 0x80, byte(i>>8), byte(i)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * 20 * time.Microsecond), CaptureLength: len(pkt), Length: 200}
		if err := w.WritePacket(ci, pkt); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
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

// writeFlushing feeds data to the ring in 64 KiB writes with a capture
// flush every 256 KiB, as the capture does about once a second.
func writeFlushing(t testing.TB, r *Ring, data []byte) {
	t.Helper()
	for off := 0; off < len(data); off += 64 << 10 {
		if _, err := r.Write(data[off:min(off+64<<10, len(data))]); err != nil {
			t.Fatal(err)
		}
		if off%(256<<10) == 0 {
			r.Flushed()
		}
	}
}

// TestRingCompressesSIP: a SIP-heavy stream is written as a gzip segment
// much smaller than its packets, which reads back whole; a stream that is
// without SIP (RTP headers, which would compress) is stored after its
// first member, so it costs no compression and takes about its size.
func TestRingCompressesSIP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     []byte
		n        int
		min, max float64 // file size against the stream's
	}{
		{"sip", sipStream(t, 3000), 3000, 0, 0.25},
		{"rtp", rtpStream(t, 60000), 60000, 0.9, 1.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			writeFlushing(t, r, tc.data)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			segs, err := Finished(dir)
			if err != nil || len(segs) != 1 {
				t.Fatalf("%d segments, %v", len(segs), err)
			}
			x := segs[0]
			if !strings.HasSuffix(x.File, ".pcapng.gz") || x.Stream != int64(len(tc.data)) {
				t.Fatalf("segment %s holds %d stream bytes, want a .pcapng.gz of %d", x.File, x.Stream, len(tc.data))
			}
			fi, err := os.Stat(filepath.Join(dir, x.File))
			if err != nil || fi.Size() != x.Bytes {
				t.Fatalf("index says %d bytes, file %v %v", x.Bytes, fi.Size(), err)
			}
			if ratio := float64(x.Bytes) / float64(x.Stream); ratio < tc.min || ratio > tc.max {
				t.Fatalf("file is %.2f of the stream, want %.2f-%.2f", ratio, tc.min, tc.max)
			}
			var buf bytes.Buffer
			st, err := Extract(context.Background(), dir, segs, time.Time{}, t0.Add(time.Hour), &buf)
			if err != nil || st.Packets != int64(tc.n) {
				t.Fatalf("extracted %d packets, want %d: %v", st.Packets, tc.n, err)
			}
			r2, err := pcapgo.NewNgReader(&buf, pcapgo.NgReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for {
				if _, _, err := r2.ReadPacketData(); err != nil {
					break
				}
				got++
			}
			if got != tc.n {
				t.Fatalf("read back %d packets, want %d", got, tc.n)
			}
		})
	}
}

// TestRingReadsPlainSegments: segments written uncompressed by earlier
// versions, finished or left open by a crash, are indexed, repaired and
// extracted like compressed ones.
func TestRingReadsPlainSegments(t *testing.T) {
	dir := t.TempDir()
	a := stream(t, t0, time.Millisecond, 100, 200, "lo")
	b := stream(t, t0.Add(time.Second), time.Millisecond, 100, 200, "lo")
	if err := os.WriteFile(filepath.Join(dir, segmentBase(t0)+".pcapng"), a, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentBase(t0.Add(time.Second))+".pcapng.open"), b[:len(b)-50], 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st := r.Stats(); st.Segments != 2 || st.Repaired != 1 || st.Packets != 199 {
		t.Fatalf("stats %+v, want 2 segments, 1 repaired, 199 packets", st)
	}
	got, _ := extractAll(t, dir)
	if len(got) != 199 {
		t.Fatalf("extracted %d packets, want 199", len(got))
	}
}

func TestIsRingFile(t *testing.T) {
	for name, want := range map[string]bool{
		"seg-1796408119295746487.pcapng":                   true,
		"seg-1796408119295746487.pcapng.gz":                true,
		"seg-1796408119295746487.pcapng.gz.open":           true,
		"seg-1796408119295746487.idx.json":                 true,
		".seg-1796408119295746487.pcapng.gz.123456789.tmp": true,
		"status.json":                   true,
		"seg-1796408119295746487.gz":    false,
		".seg-17964081192.pcapng.1.tmp": false,
		".notes.pcapng.1.tmp":           false,
		"":                              false,
		"capture.pcapng.gz":             false,
	} {
		if got := IsRingFile(name); got != want {
			t.Errorf("IsRingFile(%q) = %v, want %v", name, got, want)
		}
	}
}
