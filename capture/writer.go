package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// direction of a packet as the pcapng epb_flags option records it.
type direction uint8

const (
	dirUnknown direction = iota
	dirIn
	dirOut
)

// packet is one captured packet on its way to the writer. data may be
// shared with other packets of the same batch, or point into a capture ring
// until the batch is released.
type packet struct {
	iface     int   // pcapng interface number
	ts        int64 // Unix time in nanoseconds
	data      []byte
	length    int // length on the wire
	dir       direction
	reception pcapgo.NgEpbFlag
}

// ifaceDesc describes one capture interface for its Interface Description
// Block.
type ifaceDesc struct {
	name     string
	desc     string
	linkType layers.LinkType
}

// Sizes of pcapng blocks written per packet and per interface at the end,
// used to enforce Options.MaxBytes before writing.
const (
	epbOverhead   = 32    // block header, fixed fields and trailer
	epbFlagsBytes = 8 + 4 // epb_flags option and end-of-options, when present
	isbBytes      = 76    // statistics block with four 8-byte options
)

// pcapng codes of the Enhanced Packet Block and its epb_flags option.
const (
	epbType       = 6
	optEpbFlags   = 2
	optEndOfOpt   = 0
	outBufferSize = 1 << 20 // one write(2) per MiB of capture
)

// countingWriter counts the bytes that reached the underlying writer.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ngOut writes the pcapng stream and keeps the counters. Enhanced Packet
// Blocks are encoded straight into buf, which goes to the output in one
// write when it is full or flushed; pcapgo writes the other blocks through
// the same buffer.
type ngOut struct {
	ng     *pcapgo.NgWriter // section header, interface and statistics blocks
	buf    []byte           // encoded blocks not yet written to cw
	err    error            // the first write error; the stream is broken after it
	cw     *countingWriter
	opt    Options
	ifaces []ifaceDesc
	stats  Stats
	per    []InterfaceStats
	size   int64                     // bytes of the stream so far, buffered ones included
	done   bool                      // a limit was reached
	extra  map[string]InterfaceStats // interfaces that could not be opened
}

func newNgOut(w io.Writer, opt Options, ifaces []ifaceDesc, start time.Time) (*ngOut, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("capture: no interface to capture on")
	}
	o := &ngOut{cw: &countingWriter{w: w}, opt: opt, ifaces: ifaces, buf: make([]byte, 0, outBufferSize)}
	filter := opt.Filter.String()
	idb := func(d ifaceDesc) pcapgo.NgInterface {
		return pcapgo.NgInterface{
			Name:                d.name,
			Description:         d.desc,
			Filter:              filter,
			OS:                  runtime.GOOS,
			LinkType:            d.linkType,
			SnapLength:          uint32(opt.SnapLen),
			TimestampResolution: 9,
		}
	}
	section := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "pbxagent",
		Comment:     opt.Comment,
	}}
	var err error
	if o.ng, err = pcapgo.NewNgWriterInterface(bufSink{o}, idb(ifaces[0]), section); err != nil {
		return nil, fmt.Errorf("capture: write pcapng header: %w", err)
	}
	for _, d := range ifaces[1:] {
		if _, err := o.ng.AddInterface(idb(d)); err != nil {
			return nil, fmt.Errorf("capture: write pcapng header: %w", err)
		}
	}
	if err := o.flush(); err != nil {
		return nil, fmt.Errorf("capture: write pcapng header: %w", err)
	}
	o.size = o.cw.n
	o.per = make([]InterfaceStats, len(ifaces))
	for i, d := range ifaces {
		o.per[i] = InterfaceStats{Index: i, LinkType: d.linkType.String()}
	}
	o.stats = Stats{Start: start, Filter: filter, Bytes: o.size}
	if opt.MaxBytes > 0 && o.size+int64(len(ifaces))*isbBytes > opt.MaxBytes {
		return nil, fmt.Errorf("capture: MaxBytes %d is smaller than the pcapng headers", opt.MaxBytes)
	}
	return o, nil
}

// write writes one packet unless a limit is reached; it returns false once
// capture must stop. It encodes the Enhanced Packet Block itself, straight
// into the output buffer, and allocates nothing.
func (o *ngOut) write(p *packet) (bool, error) {
	if o.done {
		return false, nil
	}
	o.stats.Seen++
	o.per[p.iface].Seen++
	data := p.data
	if o.opt.NoRTPPayload {
		// The kernel filter may have cut the payload off already; such a
		// packet counts as trimmed too.
		if n, rtp := trimRTP(o.opt.Filter, o.ifaces[p.iface].linkType, data); rtp && (n < len(data) || n < p.length) {
			data = data[:n]
			o.stats.Trimmed++
		}
	}
	padded := (len(data) + 3) &^ 3
	size := epbOverhead + padded
	if p.dir != dirUnknown {
		size += epbFlagsBytes
	}
	if o.opt.MaxBytes > 0 && o.size+int64(size)+int64(len(o.ifaces))*isbBytes > o.opt.MaxBytes {
		o.stop(fmt.Sprintf("max bytes (%d) reached", o.opt.MaxBytes))
		return false, nil
	}
	if o.err != nil {
		return false, fmt.Errorf("capture: write packet: %w", o.err)
	}
	if len(o.buf)+size > cap(o.buf) {
		if err := o.flushBuf(); err != nil {
			return false, fmt.Errorf("capture: write packet: %w", err)
		}
		if size > cap(o.buf) {
			o.buf = make([]byte, 0, size)
		}
	}
	n := len(o.buf)
	b := o.buf[n : n+size]
	le := binary.LittleEndian
	le.PutUint32(b[0:], epbType)
	le.PutUint32(b[4:], uint32(size))
	le.PutUint32(b[8:], uint32(p.iface))
	le.PutUint32(b[12:], uint32(uint64(p.ts)>>32))
	le.PutUint32(b[16:], uint32(p.ts))
	le.PutUint32(b[20:], uint32(len(data)))
	le.PutUint32(b[24:], uint32(max(p.length, len(data))))
	copy(b[28:], data)
	off := 28 + len(data)
	for ; off < 28+padded; off++ {
		b[off] = 0
	}
	if p.dir != dirUnknown {
		flags := uint32(pcapgo.NgEpbFlagDirectionInbound)
		if p.dir == dirOut {
			flags = uint32(pcapgo.NgEpbFlagDirectionOutbound)
		}
		flags |= uint32(p.reception) & uint32(pcapgo.NgEpbFlagReceptionTypeMask)
		le.PutUint32(b[off:], optEpbFlags|4<<16) // code 2, length 4
		le.PutUint32(b[off+4:], flags)
		le.PutUint32(b[off+8:], optEndOfOpt)
		off += epbFlagsBytes
	}
	le.PutUint32(b[off:], uint32(size))
	o.buf = o.buf[:n+size]
	o.size += int64(size)
	o.stats.Written++
	o.per[p.iface].Written++
	if o.opt.MaxPackets > 0 && o.stats.Written >= o.opt.MaxPackets {
		o.stop(fmt.Sprintf("max packets (%d) reached", o.opt.MaxPackets))
		return false, nil
	}
	return true, nil
}

// bufSink lets pcapgo write its blocks into the output buffer.
type bufSink struct{ o *ngOut }

func (s bufSink) Write(p []byte) (int, error) {
	o := s.o
	if len(o.buf)+len(p) > cap(o.buf) {
		if err := o.flushBuf(); err != nil {
			return 0, err
		}
		if len(p) > cap(o.buf) {
			return o.cw.Write(p)
		}
	}
	o.buf = append(o.buf, p...)
	return len(p), nil
}

// flushBuf writes the buffered blocks to the output.
func (o *ngOut) flushBuf() error {
	if o.err != nil {
		return o.err
	}
	if len(o.buf) == 0 {
		return nil
	}
	n, err := o.cw.Write(o.buf)
	if err == nil && n < len(o.buf) {
		err = io.ErrShortWrite
	}
	o.buf = o.buf[:0]
	o.err = err
	return err
}

func (o *ngOut) stop(reason string) {
	o.done = true
	o.stats.Truncated = true
	o.stats.StopReason = reason
}

// snapshot returns the current counters.
func (o *ngOut) snapshot() Stats {
	s := o.stats.clone()
	s.Bytes = o.size
	s.KernelDropped = 0
	for name, p := range o.extra {
		s.PerInterface[name] = p
	}
	for i, p := range o.per {
		s.KernelDropped += p.KernelDropped
		s.PerInterface[o.ifaces[i].name] = p
	}
	return s
}

// close writes one statistics block per interface and flushes; it returns
// the final counters.
func (o *ngOut) close(end time.Time, reason string) (Stats, error) {
	var first error
	for i, p := range o.per {
		err := o.ng.WriteInterfaceStats(i, pcapgo.NgInterfaceStatistics{
			LastUpdate:      end,
			StartTime:       o.stats.Start,
			EndTime:         end,
			PacketsReceived: uint64(p.Seen),
			PacketsDropped:  uint64(p.KernelDropped),
		})
		if err != nil && first == nil {
			first = err
		}
		o.size += isbBytes
	}
	if err := o.flush(); err != nil && first == nil {
		first = err
	}
	if o.stats.StopReason == "" {
		o.stats.StopReason = reason
	}
	s := o.snapshot()
	s.End = end
	s.Bytes = o.cw.n
	if first != nil {
		return s, fmt.Errorf("capture: finish pcapng: %w", first)
	}
	return s, nil
}
