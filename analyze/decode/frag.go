package decode

import (
	"net/netip"
	"slices"
	"time"
)

// Limits of IP fragment reassembly.
const (
	maxFragDatagrams = 128              // datagrams being reassembled at once
	maxFragPieces    = 64               // fragments per datagram
	maxDatagram      = 65535            // reassembled size
	fragTimeout      = 30 * time.Second // capture time before a datagram is dropped
)

// fragKey identifies the fragments of one datagram.
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
	v6       bool
}

type span struct{ start, end int }

// fragDatagram is a datagram being reassembled.
type fragDatagram struct {
	data  []byte
	have  []span
	total int // -1 until the last fragment is seen
	first time.Time
}

// fragTable reassembles fragmented datagrams with bounded memory: at most
// maxFragDatagrams at once of at most maxDatagram bytes each; the oldest is
// dropped to make room, and datagrams incomplete after fragTimeout of
// capture time are dropped.
type fragTable struct {
	m map[fragKey]*fragDatagram
}

type fragStatus int

const (
	fragOK fragStatus = iota
	fragBad
)

func (t *fragTable) init() { t.m = make(map[fragKey]*fragDatagram) }

// add adds one fragment (its payload p at byte offset off) and returns the
// reassembled payload once complete.
func (t *fragTable) add(k fragKey, off int, p []byte, more bool, ts time.Time) ([]byte, fragStatus) {
	end := off + len(p)
	if end > maxDatagram || (more && len(p)%8 != 0) || len(p) == 0 && more {
		delete(t.m, k)
		return nil, fragBad
	}
	dg := t.m[k]
	if dg == nil {
		if len(t.m) >= maxFragDatagrams {
			t.evict(ts)
		}
		dg = &fragDatagram{total: -1, first: ts}
		t.m[k] = dg
	}
	if len(dg.have) >= maxFragPieces {
		delete(t.m, k)
		return nil, fragBad
	}
	if !more {
		if dg.total >= 0 && dg.total != end {
			delete(t.m, k)
			return nil, fragBad
		}
		dg.total = end
	}
	dg.put(off, p)
	if dg.total < 0 || !dg.complete() {
		return nil, fragOK
	}
	delete(t.m, k)
	return dg.data[:dg.total], fragOK
}

// put copies a piece into the datagram at off.
func (dg *fragDatagram) put(off int, p []byte) {
	end := off + len(p)
	if end > len(dg.data) {
		if end > cap(dg.data) {
			n := make([]byte, end, max(end, 2*cap(dg.data)))
			copy(n, dg.data)
			dg.data = n
		}
		dg.data = dg.data[:end]
	}
	copy(dg.data[off:], p)
	dg.have = append(dg.have, span{off, end})
}

// complete reports whether the pieces cover the datagram up to its
// known total length without a gap.
func (dg *fragDatagram) complete() bool {
	slices.SortFunc(dg.have, func(a, b span) int { return a.start - b.start })
	reach := 0
	for _, s := range dg.have {
		if s.start > reach {
			return false
		}
		reach = max(reach, s.end)
	}
	return reach >= dg.total
}

// evict drops timed-out datagrams, or the oldest one.
func (t *fragTable) evict(now time.Time) {
	var oldest fragKey
	var ot time.Time
	found := false
	for k, dg := range t.m {
		if now.Sub(dg.first) > fragTimeout {
			delete(t.m, k)
			continue
		}
		if !found || dg.first.Before(ot) {
			oldest, ot, found = k, dg.first, true
		}
	}
	if len(t.m) >= maxFragDatagrams && found {
		delete(t.m, oldest)
	}
}
