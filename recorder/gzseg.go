package recorder

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
)

// Segments are written gzip-compressed (seg-<start>.pcapng.gz), which
// tshark and Wireshark open directly. Each capture flush (about once a
// second) ends a gzip member, so a segment cut off by a crash holds whole
// members up to its last second, and the repair at the next start keeps
// every complete packet block of what decompresses.
//
// Why gzip, and why member by member (bench/recorder.sh, docs/benchmarks.md):
// SIP is kept whole, and a pcapng Enhanced Packet Block with its direction
// flag costs 44 bytes per packet against a pcap record's 16, so an
// uncompressed ring wrote 5-6% more than tcpdump for SIP-heavy load. SIP
// text compresses to 5-30% at gzip's fastest level (klauspost/compress,
// about 1 GB/s on sipp's calls, 150-200 MB/s on real captures). Debian 12's
// tshark 4.0 reads gzip, zstd and lz4 segments alike; zstd compressed 40%
// better but needs more memory per encoder, and gzip's members let a reader
// keep every complete member of a cut-off file. Compressing RTP headers
// saves less and would cost about 30 ms of CPU per second at 100k packets/s,
// more than tcpdump's whole capture, so a member is compressed only when
// the previous one was mostly SIP (by bytes); other members are stored
// (deflate's stored blocks: a copy and a CRC).

// segSuffix is the file suffix of the segments the ring writes; segments
// named .pcapng (written by earlier versions) are read as they are.
const segSuffix = ".pcapng.gz"

// gzipMagic starts every gzip member.
var gzipMagic = []byte{0x1f, 0x8b}

// segWriter writes one segment file: pcapng blocks go through a gzip
// member into a buffer in front of the file.
type segWriter struct {
	f      *os.File
	disk   countWriter // bytes that reached the file
	buf    *bufio.Writer
	member *gzip.Writer // the open member's writer, nil between members
	gz     *gzipWriters // the ring's writers, reused across segments
	pack   bool         // compress the next member
	raw    int64        // bytes of the member so far
	sip    int64        // SIP bytes of the member so far
}

// gzipWriters are the ring's two gzip writers (about 0.6 MB each), kept
// across segments so a new segment allocates no compressor, and each
// made only once it is needed.
type gzipWriters struct {
	fast, store *gzip.Writer
}

func (g *gzipWriters) get(pack bool) *gzip.Writer {
	if pack {
		if g.fast == nil {
			g.fast, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		}
		return g.fast
	}
	if g.store == nil {
		g.store, _ = gzip.NewWriterLevel(io.Discard, gzip.NoCompression)
	}
	return g.store
}

func newSegWriter(f *os.File, g *gzipWriters) *segWriter {
	w := &segWriter{f: f, gz: g, pack: true}
	w.disk.w = f
	w.buf = bufio.NewWriterSize(&w.disk, segmentBuffer)
	return w
}

// write appends a block; sip says whether it carries a SIP message.
func (w *segWriter) write(b []byte, sip bool) error {
	if w.member == nil {
		w.member = w.gz.get(w.pack)
		w.member.Reset(w.buf)
	}
	w.raw += int64(len(b))
	if sip {
		w.sip += int64(len(b))
	}
	_, err := w.member.Write(b)
	return err
}

// endMember closes the open gzip member and chooses how the next one is
// written: compressed when at least half of this one's bytes were SIP.
func (w *segWriter) endMember() error {
	if w.member == nil {
		return nil
	}
	err := w.member.Close()
	w.member.Reset(io.Discard)
	w.member = nil
	w.pack = 2*w.sip >= w.raw
	w.raw, w.sip = 0, 0
	return err
}

// flush ends the open member and writes everything to the file.
func (w *segWriter) flush() error {
	if err := w.endMember(); err != nil {
		return err
	}
	return w.buf.Flush()
}

// size bounds the file's size once everything buffered is written: the
// open member's bytes are counted as they are, plus deflate's framing,
// until it ends.
func (w *segWriter) size() int64 {
	n := w.disk.n + int64(w.buf.Buffered())
	if w.member != nil {
		n += w.raw + w.raw>>10 + 64
	}
	return n
}

// close releases the file without writing what is buffered.
func (w *segWriter) close() {
	if w.member != nil {
		w.member.Reset(io.Discard)
		w.member = nil
	}
	w.f.Close()
}

// tolerant ends a stream at its first read error, recording it, so that
// the readable prefix of a segment cut off by a crash is scanned like a
// complete one.
type tolerant struct {
	r   io.Reader
	err error
	n   int64 // bytes read
}

func (t *tolerant) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, io.EOF
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
		err = io.EOF
	}
	return n, err
}

// segReader returns the pcapng stream of a segment file: decompressed when
// it starts with gzip's magic, as it is otherwise. A cut-off or corrupt
// gzip stream ends at the last byte that decompressed; the returned
// tolerant says why it ended early.
func segReader(f io.Reader) (io.Reader, *tolerant, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	head, err := br.Peek(2)
	if err != nil || head[0] != gzipMagic[0] || head[1] != gzipMagic[1] {
		return br, nil, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("gzip header: %w", err)
	}
	t := &tolerant{r: zr}
	return t, t, nil
}

// rewriteGzip replaces a compressed segment by one holding the first n
// bytes of its pcapng stream, as one complete gzip member.
func rewriteGzip(path string, n int64) (int64, error) {
	src, err := openRegular(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	r, _, err := segReader(src)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, err
	}
	cw := &countWriter{w: tmp}
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	m, err := io.Copy(zw, io.LimitReader(r, n))
	if err == nil && m != n {
		err = errors.New("readable prefix shorter on the second read")
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	ok = true
	return cw.n, nil
}
