package analyze

import (
	"math"
	"time"
)

// rtpStats are one stream's running statistics. Loss, duplicates and
// order follow RFC 3550 A.1 on extended sequence numbers; jitter is the
// RFC 3550 interarrival jitter computed as Wireshark's RTP analysis does
// (ui/tap-rtp-analysis.c), so that its maximum is tshark's "Max Jitter":
// every packet with a known clock rate updates it against the last packet
// in timestamp order; the maximum and mean take only regular packets (not
// the first, not marked, not comfort noise or just after it, not behind
// in timestamp). Telephone events (RFC 4733) are left out: every packet of
// an event repeats its start timestamp, which says nothing of the path, so
// the audio after an event is measured against the audio before it
// (Wireshark applies the events' clock rate and shows their jitter).
//
// Unlike Wireshark, a change of the regular payload type (a codec switch,
// e.g. to T.38 or another audio codec) restarts the jitter: the
// timestamps of two codecs do not form one sequence.
type rtpStats struct {
	packets, dups, ooo int64
	started            bool
	startExt, maxExt   int64 // extended sequence numbers
	seen               [1024]int64

	bursts, burstLost, maxBurst int64

	time    time.Time // arrival of the last packet in timestamp order
	seqTS   int64     // its extended timestamp
	extTS   int64     // the latest extended timestamp
	jitter  float64   // ms
	maxJit  float64
	meanJit float64
	pt      int
	regPT   int // the last payload type that was not comfort noise
}

// rtpPacket is what the statistics need of one packet.
type rtpPacket struct {
	t      time.Time
	seq    uint16
	ts     uint32
	pt     int
	marker bool
	rate   int  // clock rate, 0 when unknown or a telephone event
	event  bool // telephone-event
}

func isCN(pt int) bool { return pt == 13 || pt == 19 }

// add counts one packet.
func (s *rtpStats) add(p rtpPacket) {
	if !s.started {
		s.first(p)
		return
	}
	ext := s.maxExt + int64(int16(p.seq-uint16(s.maxExt)))
	slot := &s.seen[ext&1023]
	switch {
	case *slot == ext:
		s.dups++
	case ext > s.maxExt:
		if gap := ext - s.maxExt - 1; gap > 0 {
			s.bursts++
			s.burstLost += gap
			s.maxBurst = max(s.maxBurst, gap)
		}
		s.maxExt = ext
	default:
		s.ooo++
		s.startExt = min(s.startExt, ext)
	}
	*slot = ext
	s.packets++
	s.jitterStep(p)
}

func (s *rtpStats) first(p rtpPacket) {
	for i := range s.seen {
		s.seen[i] = -1
	}
	s.started = true
	s.startExt, s.maxExt = int64(p.seq)+1<<16, int64(p.seq)+1<<16
	s.seen[s.maxExt&1023] = s.maxExt
	s.packets = 1
	s.time, s.seqTS, s.extTS = p.t, int64(p.ts), int64(p.ts)
	s.pt, s.regPT = p.pt, p.pt
}

// jitterStep follows Wireshark's rtppacket_analyse for one packet after
// the first.
func (s *rtpStats) jitterStep(p rtpPacket) {
	if p.event {
		return
	}
	ext := s.extTS + int64(int32(p.ts-uint32(s.extTS)))
	inSeq := s.seqTS <= ext
	followsCN := isCN(s.pt)
	if !isCN(p.pt) && p.pt != s.regPT {
		// A codec switch: a new timestamp sequence, the jitter restarts
		// from this packet as from a first one.
		s.jitter = 0
		s.time, s.seqTS, s.extTS, s.pt, s.regPT = p.t, ext, ext, p.pt, p.pt
		return
	}
	s.pt = p.pt
	if p.rate > 0 {
		nominal := float64(ext-s.seqTS) / (float64(p.rate) / 1000)
		arrival := float64(p.t.Sub(s.time)) / float64(time.Millisecond)
		s.jitter = (15*s.jitter + math.Abs(arrival-nominal)) / 16
		if !p.marker && !isCN(p.pt) && inSeq && !followsCN {
			s.maxJit = max(s.maxJit, s.jitter)
			n := float64(s.packets - 1) // packets before this one
			s.meanJit = (s.meanJit*(n-1) + s.jitter) / n
		}
	}
	if !isCN(p.pt) {
		s.regPT = p.pt
	}
	if inSeq {
		s.time, s.seqTS = p.t, ext
	}
	s.extTS = ext
}

// expected is the number of packets the sequence numbers span.
func (s *rtpStats) expected() int64 { return s.maxExt - s.startExt + 1 }

// lost is expected minus the distinct packets received, never negative.
func (s *rtpStats) lost() int64 { return max(s.expected()-(s.packets-s.dups), 0) }
