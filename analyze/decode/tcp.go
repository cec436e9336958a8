package decode

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// Limits of TCP reassembly.
const (
	maxFlows    = 1024      // directional streams followed at once
	maxFlowBuf  = 128 << 10 // bytes buffered per stream: one SIP message at most
	maxSIPHead  = 64 << 10  // SIP start line and headers
	keepPartial = 1024      // bytes kept of an incomplete line while resynchronising
)

// flowKey is one direction of a TCP connection.
type flowKey struct{ src, dst netip.AddrPort }

// Stream modes.
const (
	modeUnknown = iota
	modeSIP
	modeTLS
)

// flow is the reassembly state of one direction of a TCP connection.
type flow struct {
	next     uint32 // next expected sequence number
	synced   bool   // next is known
	mode     uint8
	resync   bool // data was lost: skip to the next SIP start line
	buf      []byte
	lastSeen int // frame
}

// tcpTable holds the streams being followed: at most maxFlows, the least
// recently seen is dropped to make room, and a stream is dropped on FIN or
// RST.
type tcpTable struct {
	m map[flowKey]*flow
}

func (t *tcpTable) init() { t.m = make(map[flowKey]*flow) }

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
)

// tcpSegment follows TCP streams carrying SIP, plain or over TLS.
func (d *decoder) tcpSegment(src, dst netip.Addr, p []byte) error {
	if len(p) < 20 {
		return d.malformed()
	}
	doff := int(p[12]>>4) * 4
	if doff < 20 || doff > len(p) {
		return d.malformed()
	}
	sp := binary.BigEndian.Uint16(p)
	dp := binary.BigEndian.Uint16(p[2:])
	seq := binary.BigEndian.Uint32(p[4:])
	flags := p[13]
	payload := p[doff:]
	key := flowKey{netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)}
	f := d.tcp.m[key]
	if f == nil {
		if flags&tcpRST != 0 {
			return nil
		}
		ported := d.sipPorts.has(sp) || d.sipPorts.has(dp)
		switch {
		case flags&tcpSYN != 0 && ported:
		case len(payload) == 0:
			return nil
		case ported || looksLikeSIP(payload):
		default:
			return nil
		}
		f = d.tcp.add(key, d.frame)
		if flags&tcpSYN != 0 {
			f.next, f.synced = seq+1, true
		}
	}
	f.lastSeen = d.frame
	if flags&tcpRST != 0 {
		delete(d.tcp.m, key)
		return nil
	}
	if flags&tcpSYN != 0 && !f.synced {
		f.next, f.synced = seq+1, true
	}
	var err error
	if len(payload) > 0 {
		err = d.tcpData(key, f, seq, payload)
	}
	if flags&tcpFIN != 0 {
		delete(d.tcp.m, key)
	}
	return err
}

// add starts following a stream, dropping the least recently seen one when
// the table is full.
func (t *tcpTable) add(k flowKey, frame int) *flow {
	if len(t.m) >= maxFlows {
		var oldest flowKey
		best := -1
		for k, f := range t.m {
			if best < 0 || f.lastSeen < best {
				oldest, best = k, f.lastSeen
			}
		}
		delete(t.m, oldest)
	}
	f := &flow{lastSeen: frame}
	t.m[k] = f
	return f
}

// tcpData handles the payload of one segment.
func (d *decoder) tcpData(key flowKey, f *flow, seq uint32, payload []byte) error {
	if f.mode == modeUnknown {
		switch {
		case looksLikeTLS(payload):
			f.mode = modeTLS
		case looksLikeSIP(payload):
			f.mode = modeSIP
		case d.tlsPorts.has(key.src.Port()) || d.tlsPorts.has(key.dst.Port()):
			f.mode = modeTLS
		default:
			f.mode, f.resync = modeSIP, true
		}
	}
	if f.mode == modeTLS {
		d.stats.TLS++
		return d.fn(d.reset(key.src, key.dst, "tls"))
	}
	if !f.synced {
		f.next, f.synced = seq, true
	}
	switch diff := int32(seq - f.next); {
	case diff > 0: // data lost (or not captured)
		d.stats.TCPGaps++
		f.buf, f.resync = f.buf[:0], true
	case diff < 0: // retransmission, perhaps with new data
		if int(-diff) >= len(payload) {
			return nil
		}
		payload = payload[-diff:]
		seq = f.next
	}
	f.next = seq + uint32(len(payload))
	if len(f.buf)+len(payload) > maxFlowBuf {
		d.stats.Malformed++
		f.buf, f.resync = f.buf[:0], true
		if len(payload) > maxFlowBuf {
			payload = payload[len(payload)-maxFlowBuf:]
		}
	}
	f.buf = append(f.buf, payload...)
	return d.frameSIP(key, f)
}

// frameSIP emits the complete SIP messages at the start of f.buf.
func (d *decoder) frameSIP(key flowKey, f *flow) error {
	b := f.buf
	var err error
	for err == nil {
		var msg []byte
		var more bool
		msg, b, more = d.nextFrame(f, b)
		if !more {
			break
		}
		if msg == nil {
			continue
		}
		m, perr := ParseSIP(msg)
		if perr != nil {
			d.stats.Malformed++
			f.resync = true
			continue
		}
		d.stats.SIP++
		d.learnSDP(m)
		ev := d.reset(key.src, key.dst, "tcp")
		ev.SIP = m
		err = d.fn(ev)
	}
	n := copy(f.buf, b)
	f.buf = f.buf[:n]
	if n == 0 && cap(f.buf) > 16<<10 {
		f.buf = nil
	}
	return err
}

// nextFrame cuts the next whole message (start line to end of body) off
// b. It returns the message and the rest; a nil message with more set
// when it skipped malformed bytes to look for the next start line; more
// false when b holds no whole message yet (the rest is kept for more
// data).
func (d *decoder) nextFrame(f *flow, b []byte) (msg, rest []byte, more bool) {
	if f.resync {
		i := findSIPStart(b)
		if i < 0 {
			// Keep an incomplete last line: it may be a start line.
			j := bytes.LastIndexByte(b, '\n') + 1
			if len(b)-j > keepPartial {
				j = len(b)
			}
			return nil, b[j:], false
		}
		b, f.resync = b[i:], false
	}
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:] // keep-alives between messages
	}
	if len(b) == 0 {
		return nil, b, false
	}
	hend := headerEnd(b)
	if hend < 0 {
		if len(b) > maxSIPHead {
			d.stats.Malformed++
			f.resync = true
			return nil, b[1:], true
		}
		return nil, b, false
	}
	cl, ok := contentLength(b[:hend])
	if !ok || cl > maxFlowBuf-hend {
		d.stats.Malformed++
		f.resync = true
		return nil, b[1:], true
	}
	total := hend + cl
	if len(b) < total {
		return nil, b, false
	}
	return b[:total], b[total:], true
}

// looksLikeTLS reports whether b starts with a TLS record header.
func looksLikeTLS(b []byte) bool {
	return len(b) >= 5 && b[0] >= 0x14 && b[0] <= 0x18 && b[1] == 3 && b[2] <= 4
}

// headerEnd returns the length of the start line and headers including the
// empty line that ends them, or -1.
func headerEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		i0 := bytes.IndexByte(b[i:], '\n')
		if i0 < 0 {
			return -1
		}
		i += i0
		// b[i] == '\n': an empty line follows when the next is "\n" or "\r\n".
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

// contentLength returns the Content-Length of a header block (0 when
// absent) and false when it is not a number.
func contentLength(h []byte) (int, bool) {
	for len(h) > 0 {
		i := bytes.IndexByte(h, '\n')
		var line []byte
		if i < 0 {
			line, h = h, nil
		} else {
			line, h = h[:i], h[i+1:]
		}
		c := bytes.IndexByte(line, ':')
		if c < 0 {
			continue
		}
		name := bytes.TrimRight(line[:c], " \t")
		if !(len(name) == 1 && (name[0] == 'l' || name[0] == 'L')) && !bytes.EqualFold(name, []byte("Content-Length")) {
			continue
		}
		v := bytes.TrimSpace(line[c+1:])
		n := 0
		if len(v) == 0 || len(v) > 9 {
			return 0, false
		}
		for _, ch := range v {
			if ch < '0' || ch > '9' {
				return 0, false
			}
			n = n*10 + int(ch-'0')
		}
		return n, true
	}
	return 0, true
}

// findSIPStart returns the offset of the first line of b that looks like
// a SIP start line, or -1.
func findSIPStart(b []byte) int {
	for i := 0; i < len(b); {
		if looksLikeSIP(b[i:]) {
			return i
		}
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return -1
}
