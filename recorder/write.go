package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// headroomEvery is how many bytes are written between two checks of the
// free disk space.
const headroomEvery = 4 << 20

// Write takes the next bytes of a pcapng stream. Complete blocks are
// written to the open segment (a new one is started when the open one is
// full or old enough); a partial block waits for the next call. While the
// ring is paused (no room within its limits) packets are counted and
// dropped. Write fails only when the stream is not pcapng or a segment
// cannot be written; the caller then ends the stream and starts a new one.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("recorder: ring closed")
	}
	n := len(p)
	data := p
	if len(r.pending) > 0 {
		r.pending = append(r.pending, p...)
		data = r.pending
	}
	for {
		typ, l, ok, err := blockLen(data)
		if err != nil {
			r.pending = r.pending[:0]
			return 0, fmt.Errorf("recorder: %w", err)
		}
		if !ok {
			break
		}
		c, err := complete(data, l)
		if err != nil {
			r.pending = r.pending[:0]
			return 0, fmt.Errorf("recorder: %w", err)
		}
		if !c {
			break
		}
		if err := r.block(typ, data[:l]); err != nil {
			r.pending = r.pending[:0]
			return 0, err
		}
		data = data[l:]
	}
	r.pending = append(r.pending[:0], data...)
	return n, nil
}

// block handles one complete pcapng block.
func (r *Ring) block(typ uint32, b []byte) error {
	switch typ {
	case blockSHB:
		if r.cur != nil {
			if err := r.endCur(); err != nil {
				return err
			}
		}
		r.sec.reset(b)
		r.inSec = true
		return nil
	case blockIDB:
		if !r.inSec {
			return errors.New("recorder: interface block before the section header")
		}
		r.sec.addIDB(b)
		if r.cur != nil {
			return r.put(b)
		}
		return nil
	case blockEPB:
		return r.packet(b)
	default:
		if r.cur != nil {
			return r.put(b)
		}
		return nil
	}
}

// endCur finishes the open segment, or removes it when it is empty.
func (r *Ring) endCur() error {
	if r.cur.idx.Packets == 0 {
		r.discardCur()
		return nil
	}
	return r.finish()
}

// packet writes one Enhanced Packet Block.
func (r *Ring) packet(b []byte) error {
	p, ok := parseEPB(b, r.sec.units)
	if !ok {
		return errors.New("recorder: malformed packet block")
	}
	ts := time.Unix(0, p.ts).UTC()
	if c := r.cur; c != nil && c.idx.Packets > 0 &&
		(c.raw+int64(len(b)) > r.opt.SegmentBytes || ts.Sub(c.start) >= r.opt.SegmentDuration) {
		if err := r.finish(); err != nil {
			return err
		}
	}
	if r.sinceChk >= min(headroomEvery, r.opt.SegmentBytes/4) {
		r.checkHeadroom()
	}
	need := int64(len(b))
	if r.cur == nil {
		need += int64(len(r.sec.header))
	}
	if r.capBytes < 2*r.opt.SegmentBytes || !r.enforce(need, false) {
		r.pause()
		return nil
	}
	if r.stats.Paused != "" {
		r.log.Info("recorder: writing again", "dropped", r.stats.Dropped)
		r.stats.Paused = ""
	}
	if r.cur == nil {
		if err := r.openSegment(ts); err != nil {
			return err
		}
	}
	id := sipCallID(p.data)
	if err := r.putSIP(b, id != nil); err != nil {
		return err
	}
	c := r.cur
	if c.idx.Packets == 0 || ts.Before(c.idx.First) {
		c.idx.First = ts
	}
	if ts.After(c.idx.Last) {
		c.idx.Last = ts
	}
	c.idx.Packets++
	if r.sec.isHEP(p.iface) {
		c.idx.HEP++
	}
	if id != nil {
		c.ids.add(id)
	}
	return nil
}

// pause drops a packet for want of room and says why, once.
func (r *Ring) pause() {
	r.stats.Dropped++
	r.setPaused()
}

// setPaused records why the ring does not write.
func (r *Ring) setPaused() {
	if r.stats.Paused != "" {
		return
	}
	why := fmt.Sprintf("byte cap of %d bytes reached", r.capBytes)
	if r.capWhy != "" {
		why = fmt.Sprintf("%s (room for %d bytes, a ring needs at least %d)", r.capWhy, r.capBytes, 2*r.opt.SegmentBytes)
	}
	r.stats.Paused = "not recording: " + why
	r.log.Warn("recorder paused", "reason", why)
}

// segmentBuffer is the write buffer of the open segment: the capture hands
// over its blocks one by one, and one write(2) per packet cost more CPU
// than tcpdump's whole capture (bench/recorder.sh). The buffer is written
// out whenever the capture flushes, so the file lags the capture by no more
// than before.
const segmentBuffer = 256 << 10

// put appends a block to the open segment.
func (r *Ring) put(b []byte) error { return r.putSIP(b, false) }

// putSIP appends a block, saying whether it carries SIP (which decides
// whether the segment's next gzip member is compressed).
func (r *Ring) putSIP(b []byte, sip bool) error {
	c := r.cur
	if err := c.w.write(b, sip); err != nil {
		// The segment is broken; finish what is there.
		r.cur = nil
		c.w.close()
		return fmt.Errorf("recorder: write %s: %w", c.path, err)
	}
	c.raw += int64(len(b))
	c.idx.Bytes = c.w.size()
	r.sinceChk += int64(len(b))
	return nil
}

// flushCur writes the open segment's buffer to its file; a segment that
// cannot be written is closed and left for the repair at the next start.
func (r *Ring) flushCur() error {
	c := r.cur
	if c == nil {
		return nil
	}
	if err := c.w.flush(); err != nil {
		r.cur = nil
		c.w.close()
		return fmt.Errorf("recorder: write %s: %w", c.path, err)
	}
	c.idx.Bytes = c.w.size()
	return nil
}

// openSegment starts a segment named after the first packet's time and
// writes the section's header blocks into it.
func (r *Ring) openSegment(ts time.Time) error {
	for {
		base := segmentBase(ts)
		if !r.exists(base) {
			break
		}
		ts = ts.Add(time.Nanosecond)
	}
	base := segmentBase(ts)
	path := filepath.Join(r.opt.Dir, base+segSuffix+".open")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err != nil {
		return fmt.Errorf("recorder: create segment: %w", err)
	}
	r.cur = &openSeg{w: newSegWriter(f, &r.gz), path: path, start: ts, idx: Index{Writer: writerTag, File: base + segSuffix}}
	return r.put(r.sec.header)
}

func (r *Ring) exists(base string) bool {
	for _, suffix := range []string{".pcapng", ".pcapng.open", segSuffix, segSuffix + ".open", ".idx.json"} {
		if _, err := os.Lstat(filepath.Join(r.opt.Dir, base+suffix)); err == nil {
			return true
		}
	}
	return false
}

// checkHeadroom lowers the byte cap to what the disk leaves room for.
func (r *Ring) checkHeadroom() {
	r.sinceChk = 0
	r.capBytes, r.capWhy = r.opt.MaxBytes, ""
	if r.opt.Headroom == nil {
		return
	}
	c, why, err := r.opt.Headroom(r.size())
	if err != nil {
		r.capWhy = fmt.Sprintf("free space of %s unknown: %v", r.opt.Dir, err)
		r.capBytes = 0
		return
	}
	if c < r.capBytes {
		r.capBytes, r.capWhy = max(c, 0), why
	}
	if r.capBytes < 2*r.opt.SegmentBytes && r.capWhy != "" {
		// Too little room to keep a useful ring: stop and give back
		// what the ring holds beyond the limit.
		r.enforce(0, true)
		r.setPaused()
	}
}
