package decode

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"time"
)

// ErrFormat is returned when the input is neither pcap nor pcapng.
var ErrFormat = errors.New("decode: not a pcap or pcapng file")

// ErrCorrupt is wrapped by the error Read returns when the file's framing
// is broken beyond the current record and reading cannot go on.
var ErrCorrupt = errors.New("decode: corrupt capture file")

// Limits of what is read from the file, whatever its headers say.
const (
	// maxPacket is the largest captured packet decoded; larger records are
	// skipped and counted as malformed.
	maxPacket = 256 << 10
	// maxBlock is the largest pcapng block read into memory.
	maxBlock = maxPacket + 64<<10
	// readBuf is the size of the read buffer; records are decoded in it
	// without copying.
	readBuf = maxBlock + 64<<10
	// maxSkip is the largest pcapng block that is skipped rather than
	// taken as corruption.
	maxSkip = 1 << 30
	// ctxEvery is how many packets are decoded between context checks.
	ctxEvery = 4096
)

// pcap and pcapng magic numbers.
const (
	pcapMicro    = 0xa1b2c3d4
	pcapNano     = 0xa1b23c4d
	pcapModified = 0xa1b2cd34 // Kuznetzov's patched libpcap: 8 more bytes per record
	ngSHB        = 0x0a0d0d0a
	ngByteOrder  = 0x1a2b3c4d
)

// pcapng block types.
const (
	ngIDB = 1
	ngOPB = 2
	ngSPB = 3
	ngEPB = 6
)

// ReadFile opens path and calls Read on it.
func ReadFile(ctx context.Context, path string, opt Options, fn func(*Event) error) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	return Read(ctx, f, opt, fn)
}

// Read decodes the capture in r and calls fn for every SIP message, RTP
// packet, ICMP error about a UDP datagram and TLS packet, in capture order.
// The Event, and the RTPHeader and ICMPError it points to, are reused once
// fn returns; Event.SIP is newly allocated and may be kept.
//
// Memory is bounded whatever the input: packets are decoded in a fixed read
// buffer, and IP fragment and TCP reassembly keep bounded state. Malformed
// packets are counted in Stats.Malformed and skipped; a file cut short
// counts its last record as malformed and ends without error. Read stops at
// the first error of fn or of ctx, or when the file's framing is corrupt
// (ErrCorrupt), and returns the Stats so far with that error.
func Read(ctx context.Context, r io.Reader, opt Options, fn func(*Event) error) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	br := bufio.NewReaderSize(r, readBuf)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Stats{}, fmt.Errorf("%w: file too short", ErrFormat)
		}
		return Stats{}, err
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Stats{}, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, readBuf)
		if magic, err = br.Peek(4); err != nil {
			return Stats{}, fmt.Errorf("%w: %v", ErrFormat, err)
		}
	}
	d := newDecoder(ctx, opt, fn)
	switch {
	case binary.LittleEndian.Uint32(magic) == ngSHB:
		err = d.readNg(br)
	default:
		le := binary.LittleEndian.Uint32(magic)
		be := binary.BigEndian.Uint32(magic)
		switch {
		case le == pcapMicro || le == pcapNano || le == pcapModified:
			err = d.readPcap(br, binary.LittleEndian, le)
		case be == pcapMicro || be == pcapNano || be == pcapModified:
			err = d.readPcap(br, binary.BigEndian, be)
		default:
			return Stats{}, ErrFormat
		}
	}
	d.finish()
	return d.stats, err
}

// readPcap reads a classic pcap file.
func (d *decoder) readPcap(br *bufio.Reader, bo binary.ByteOrder, magic uint32) error {
	hdr, err := br.Peek(24)
	if err != nil {
		d.stats.Malformed++
		return nil
	}
	pf := pcapFormat{bo: bo, nano: magic == pcapNano, recLen: 16}
	if magic == pcapModified {
		pf.recLen = 24
	}
	pf.iface = d.addIface("", int(bo.Uint32(hdr[20:])&0xffff))
	if _, err := br.Discard(24); err != nil {
		return err
	}
	for {
		if stop, err := d.pcapRecord(br, &pf); stop || err != nil {
			return err
		}
	}
}

// pcapFormat is what a classic pcap file's header says about its records.
type pcapFormat struct {
	bo     binary.ByteOrder
	nano   bool // nanosecond timestamps
	recLen int  // record header length
	iface  int
}

// pcapRecord reads and decodes one record; stop at the end of the file
// or when it is cut short.
func (d *decoder) pcapRecord(br *bufio.Reader, pf *pcapFormat) (stop bool, err error) {
	rec, err := br.Peek(pf.recLen)
	if err != nil {
		if len(rec) > 0 {
			d.stats.Malformed++ // cut short in a record header
		}
		return true, ignoreEOF(err)
	}
	bo := pf.bo
	sec := bo.Uint32(rec[0:])
	frac := bo.Uint32(rec[4:])
	capLen := bo.Uint32(rec[8:])
	origLen := bo.Uint32(rec[12:])
	ns := int64(frac) * 1000
	if pf.nano {
		ns = int64(frac)
	}
	ts := time.Unix(int64(sec), ns).UTC()
	d.frame++
	d.count(ts, int(origLen))
	if capLen > maxSkip {
		d.stats.Malformed++
		return true, fmt.Errorf("%w: record %d has a length of %d bytes", ErrCorrupt, d.frame, capLen)
	}
	total := pf.recLen + int(capLen)
	if capLen > maxPacket {
		d.stats.Malformed++
		if n, err := br.Discard(total); n < total {
			return true, ignoreEOF(err)
		}
		return false, nil
	}
	buf, err := br.Peek(total)
	if err != nil {
		d.stats.Malformed++ // cut short in the packet data
		return true, ignoreEOF(err)
	}
	if err := d.packet(pf.iface, ts, buf[pf.recLen:], int(origLen), DirUnknown); err != nil {
		return true, err
	}
	if _, err := br.Discard(total); err != nil {
		return true, err
	}
	return false, nil
}

// ngIface is what an Interface Description Block says.
type ngIface struct {
	name    string
	link    int
	tsShift int   // resolution 2^-n when tsBinary
	tsPow   int   // resolution 10^-n
	tsBin   bool  // binary resolution
	tsOff   int64 // if_tsoffset, seconds
}

// readNg reads a pcapng file.
func (d *decoder) readNg(br *bufio.Reader) error {
	sec := &ngSection{bo: binary.LittleEndian}
	for {
		h, err := br.Peek(12)
		if err != nil {
			if len(h) > 0 {
				d.stats.Malformed++
			}
			return ignoreEOF(err)
		}
		btype, err := d.ngBlockType(h, sec)
		if err != nil {
			return err
		}
		blen := sec.bo.Uint32(h[4:])
		isPacket := btype == ngEPB || btype == ngSPB || btype == ngOPB
		if isPacket {
			d.frame++
		}
		if blen < 12 || blen%4 != 0 || blen > maxSkip {
			d.bad(isPacket)
			return fmt.Errorf("%w: block of type %#x has a length of %d bytes", ErrCorrupt, btype, blen)
		}
		if blen > maxBlock || (!isPacket && btype != ngIDB) {
			if blen > maxBlock && isPacket {
				d.bad(true)
			}
			if n, err := br.Discard(int(blen)); n < int(blen) {
				if blen <= maxBlock {
					d.stats.Malformed++
				}
				return ignoreEOF(err)
			}
			continue
		}
		blk, err := br.Peek(int(blen))
		if err != nil {
			d.bad(isPacket)
			return ignoreEOF(err)
		}
		if err := d.ngBlock(sec, btype, blk[8:blen-4]); err != nil {
			return err
		}
		if _, err := br.Discard(int(blen)); err != nil {
			return err
		}
	}
}

// ngSection is the state of the pcapng section being read: its byte order
// and its interface numbers mapped to the decoder's interfaces.
type ngSection struct {
	bo     binary.ByteOrder
	ifaces []int
}

// ngBlockType reads a block's type from its first 12 bytes; a section
// header block starts a new section, whose byte order it sets.
func (d *decoder) ngBlockType(h []byte, sec *ngSection) (uint32, error) {
	btype := binary.LittleEndian.Uint32(h)
	if btype != ngSHB {
		return sec.bo.Uint32(h), nil
	}
	switch {
	case binary.LittleEndian.Uint32(h[8:]) == ngByteOrder:
		sec.bo = binary.LittleEndian
	case binary.BigEndian.Uint32(h[8:]) == ngByteOrder:
		sec.bo = binary.BigEndian
	default:
		d.stats.Malformed++
		return 0, fmt.Errorf("%w: bad section header byte-order magic", ErrCorrupt)
	}
	sec.ifaces = sec.ifaces[:0]
	return btype, nil
}

// ngBlock decodes the body of an interface description or packet block.
func (d *decoder) ngBlock(sec *ngSection, btype uint32, body []byte) error {
	switch btype {
	case ngIDB:
		d.ngIDB(sec, body)
	case ngEPB, ngOPB:
		return d.ngEPB(sec, btype, body)
	case ngSPB:
		return d.ngSPB(sec, body)
	}
	return nil
}

// ngIDB adds the interface an interface description block describes, with
// its name and timestamp resolution and offset.
func (d *decoder) ngIDB(sec *ngSection, body []byte) {
	if len(body) < 8 {
		d.stats.Malformed++
		return
	}
	bo := sec.bo
	ifc := ngIface{link: int(bo.Uint16(body)), tsPow: 6}
	parseNgOptions(bo, body[8:], func(code uint16, v []byte) {
		switch code {
		case 2: // if_name
			ifc.name = string(v)
		case 9: // if_tsresol
			if len(v) >= 1 {
				ifc.tsBin = v[0]&0x80 != 0
				if ifc.tsBin {
					ifc.tsShift = int(v[0] & 0x7f)
				} else {
					ifc.tsPow = int(v[0])
				}
			}
		case 14: // if_tsoffset
			if len(v) >= 8 {
				ifc.tsOff = int64(bo.Uint64(v))
			}
		}
	})
	sec.ifaces = append(sec.ifaces, d.addIface(ifc.name, ifc.link))
	d.ngIfaces = append(d.ngIfaces, ifc)
}

// ngEPB decodes an enhanced (or obsolete) packet block.
func (d *decoder) ngEPB(sec *ngSection, btype uint32, body []byte) error {
	if len(body) < 20 {
		d.bad(true)
		return nil
	}
	bo := sec.bo
	var ifid uint32
	if btype == ngEPB {
		ifid = bo.Uint32(body)
	} else {
		ifid = uint32(bo.Uint16(body))
	}
	tsHi, tsLo := bo.Uint32(body[4:]), bo.Uint32(body[8:])
	capLen, origLen := bo.Uint32(body[12:]), bo.Uint32(body[16:])
	if ifid >= uint32(len(sec.ifaces)) || capLen > uint32(len(body)-20) {
		d.bad(true)
		return nil
	}
	di := sec.ifaces[ifid]
	ts := d.ngIfaces[di].time(uint64(tsHi)<<32 | uint64(tsLo))
	d.count(ts, int(origLen))
	data := body[20 : 20+capLen]
	dir := DirUnknown
	if btype == ngEPB {
		dir = ngDirection(bo, body, capLen)
	}
	return d.packet(di, ts, data, int(origLen), dir)
}

// ngDirection reads an enhanced packet block's direction from its
// epb_flags option, DirUnknown when it has none.
func ngDirection(bo binary.ByteOrder, body []byte, capLen uint32) Direction {
	dir := DirUnknown
	if o := 20 + (int(capLen)+3)&^3; o < len(body) {
		parseNgOptions(bo, body[o:], func(code uint16, v []byte) {
			if code == 2 && len(v) >= 4 { // epb_flags
				switch bo.Uint32(v) & 3 {
				case 1:
					dir = DirInbound
				case 2:
					dir = DirOutbound
				}
			}
		})
	}
	return dir
}

// ngSPB decodes a simple packet block, which belongs to the first
// interface and carries no timestamp.
func (d *decoder) ngSPB(sec *ngSection, body []byte) error {
	if len(body) < 4 || len(sec.ifaces) == 0 {
		d.bad(true)
		return nil
	}
	origLen := sec.bo.Uint32(body)
	data := body[4:]
	if uint32(len(data)) > origLen {
		data = data[:origLen]
	}
	d.count(time.Time{}, int(origLen))
	return d.packet(sec.ifaces[0], time.Time{}, data, int(origLen), DirUnknown)
}

// bad counts a record that could not be read as malformed (and as a
// packet, when it is one).
func (d *decoder) bad(packet bool) {
	d.stats.Malformed++
	if packet {
		d.stats.Packets++
	}
}

// time converts a pcapng timestamp.
func (ifc *ngIface) time(ts uint64) time.Time {
	var sec, ns int64
	if ifc.tsBin {
		shift := uint(ifc.tsShift)
		if shift > 63 {
			shift = 63
		}
		sec = int64(ts >> shift)
		frac := ts & (1<<shift - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		ns = int64(hi<<(64-shift) | lo>>shift)
		if shift == 0 {
			ns = 0
		}
	} else {
		p := ifc.tsPow
		switch {
		case p <= 9:
			mul := pow10[9-p]
			sec = int64(ts / pow10[p])
			ns = int64(ts%pow10[p]) * int64(mul)
		case p <= 19:
			div := pow10[p-9]
			whole := ts / div // nanoseconds
			sec = int64(whole / 1e9)
			ns = int64(whole % 1e9)
		}
	}
	return time.Unix(sec+ifc.tsOff, ns).UTC()
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// parseNgOptions calls fn for every option of a pcapng options list.
func parseNgOptions(bo binary.ByteOrder, b []byte, fn func(code uint16, v []byte)) {
	for len(b) >= 4 {
		code, n := bo.Uint16(b), int(bo.Uint16(b[2:]))
		if code == 0 {
			return
		}
		b = b[4:]
		if n > len(b) {
			return
		}
		fn(code, b[:n])
		pad := (n + 3) &^ 3
		if pad > len(b) {
			return
		}
		b = b[pad:]
	}
}

// ignoreEOF maps the errors of a file cut short to nil.
func ignoreEOF(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, bufio.ErrBufferFull) {
		return nil
	}
	return err
}

// count records a packet in the stats.
func (d *decoder) count(ts time.Time, origLen int) {
	d.stats.Packets++
	d.stats.Bytes += int64(origLen)
	if ts.IsZero() {
		return
	}
	if d.stats.Start.IsZero() || ts.Before(d.stats.Start) {
		d.stats.Start = ts
	}
	if ts.After(d.stats.End) {
		d.stats.End = ts
	}
}
