package analyze

import (
	"math"
	"testing"
	"time"
)

// G.107's default parameter set gives R = 93.2 and, through Annex B,
// MOS 4.41 (G.107 Table 3 and the widely tabulated R→MOS mapping).
func TestEmodelNoImpairment(t *testing.T) {
	q := emodel(emodelInputs{codec: "PCMU", packetMs: 20})
	if q.R != 93.2 || q.MOS != 4.41 || q.Idd != 0 || q.IeEff != 0 {
		t.Fatalf("no impairment: %+v", q)
	}
	if got := mosFromR(0); got != 1 {
		t.Errorf("MOS(R=0) = %v", got)
	}
	if got := mosFromR(120); got != 4.5 {
		t.Errorf("MOS(R=120) = %v", got)
	}
}

// A G.711 stream with 5% random loss, computed by hand:
// Ie,eff = 0 + 95*5/(5/1 + 25.1) = 15.78; R = 93.2 - 15.78 = 77.42;
// MOS = 1 + 0.035*77.42 + 77.42*17.42*22.58*7e-6 = 3.92.
func TestEmodelLossyStreamByHand(t *testing.T) {
	q := emodel(emodelInputs{codec: "PCMA", lossPct: 5, meanBurst: 1.0 / 0.95, packetMs: 20})
	if math.Abs(q.IeEff-15.78) > 0.01 || q.R != 77.4 || q.MOS != 3.92 || q.BurstR != 1 {
		t.Fatalf("5%% loss: %+v", q)
	}
	// The same loss in bursts of 4 (BurstR = 4*0.95 = 3.8) hurts more.
	b := emodel(emodelInputs{codec: "PCMA", lossPct: 5, meanBurst: 4, packetMs: 20})
	if math.Abs(b.BurstR-3.8) > 1e-9 || b.R >= q.R {
		t.Fatalf("bursty loss: %+v", b)
	}
	// G.729: Ie 11 before any loss.
	if g := emodel(emodelInputs{codec: "G729", packetMs: 20}); g.R != 82.2 {
		t.Fatalf("G.729: %+v", g)
	}
}

// Idd at Ta = 200 ms: X = 1, 25*((2)^(1/6) - 3*(1+1/729)^(1/6) + 2) = 3.04.
func TestEmodelDelay(t *testing.T) {
	if got := idd(200); math.Abs(got-3.044) > 0.001 {
		t.Fatalf("Idd(200) = %v", got)
	}
	if idd(100) != 0 || idd(50) != 0 {
		t.Fatal("no delay impairment up to 100 ms")
	}
	// 20 ms packets with 85 ms maximum jitter: Ta = 20 + 170 + 10 = 200.
	q := emodel(emodelInputs{codec: "PCMU", packetMs: 20, maxJitterMs: 85})
	if q.DelayMs != 200 || q.R != 90.2 {
		t.Fatalf("jitter delay: %+v", q)
	}
}

func TestRTPStatsOrderLossDuplicates(t *testing.T) {
	var s rtpStats
	// 1..10 with 4 lost, 7-8 lost (one burst of 2), 5 twice, 9 late.
	for _, seq := range []uint16{1, 2, 3, 5, 5, 6, 10, 9} {
		s.add(rtpPacket{t: simT0, seq: seq, pt: 0})
	}
	if s.packets != 8 || s.dups != 1 || s.ooo != 1 || s.lost() != 3 || s.bursts != 2 || s.maxBurst != 3 {
		t.Fatalf("stats: packets %d dups %d ooo %d lost %d bursts %d max %d", s.packets, s.dups, s.ooo, s.lost(), s.bursts, s.maxBurst)
	}
	// Across the sequence wrap.
	var w rtpStats
	for i := range 10 {
		w.add(rtpPacket{t: simT0, seq: uint16(65530 + i), pt: 0})
	}
	if w.lost() != 0 || w.expected() != 10 || w.ooo != 0 {
		t.Fatalf("wrap: lost %d expected %d", w.lost(), w.expected())
	}
}

// Packets 20 ms apart in timestamp arriving alternately 10 and 30 ms
// apart: D = 10 ms each time, J(n) = J(n-1) + (10 - J(n-1))/16.
func TestRTPStatsJitterByHand(t *testing.T) {
	var s rtpStats
	at := time.Duration(0)
	for i := range 40 {
		if i > 0 {
			at += time.Duration(10+20*(i%2)) * time.Millisecond
		}
		s.add(rtpPacket{t: simT0.Add(at), seq: uint16(i), ts: uint32(160 * i), pt: 0, rate: 8000})
	}
	want, mean := 0.0, 0.0
	for n := 1; n < 40; n++ {
		want += (10 - want) / 16
		mean = (mean*float64(n-1) + want) / float64(n)
	}
	if math.Abs(s.maxJit-want) > 1e-9 || math.Abs(s.meanJit-mean) > 1e-9 {
		t.Fatalf("jitter max %v mean %v, want %v %v", s.maxJit, s.meanJit, want, mean)
	}
}

// A codec switch restarts the jitter; telephone events do not count.
func TestRTPStatsPayloadChanges(t *testing.T) {
	var s rtpStats
	for i := range 20 { // PCMU with 10 ms of jitter
		s.add(rtpPacket{t: simT0.Add(time.Duration(20*i+10*(i%2)) * time.Millisecond), seq: uint16(i), ts: uint32(160 * i), pt: 0, rate: 8000})
	}
	if s.jitter < 3 {
		t.Fatalf("jitter %v", s.jitter)
	}
	// Telephone events: timestamps stand still, no jitter update.
	before := s.jitter
	for i := 20; i < 25; i++ {
		s.add(rtpPacket{t: simT0.Add(time.Duration(20*i) * time.Millisecond), seq: uint16(i), ts: 160 * 20, pt: 101, event: true})
	}
	if s.jitter != before {
		t.Fatalf("telephone-event changed the jitter: %v → %v", before, s.jitter)
	}
	// The audio after the event goes on from the audio before it: the
	// event's standing timestamp is no jitter.
	s.add(rtpPacket{t: simT0.Add(25 * 20 * time.Millisecond), seq: 25, ts: 160 * 25, pt: 0, rate: 8000})
	// (Measured against the event's last packet instead, this one would
	// look 80 ms late: +4.4 ms of jitter.)
	if s.jitter > before+1 {
		t.Fatalf("jitter after a telephone event: %v → %v", before, s.jitter)
	}
	// A switch to another codec with its own timestamps starts afresh.
	s.add(rtpPacket{t: simT0.Add(520 * time.Millisecond), seq: 26, ts: 999999, pt: 8, rate: 8000})
	if s.jitter > 500.0/16+1 {
		t.Fatalf("jitter after a codec switch: %v", s.jitter)
	}
}
