package analyze

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// minMediaWindow is how long an answered call must have lasted in the
// capture before missing audio in a direction is reported.
const minMediaWindow = time.Second

// minStreamPackets is the size of a stream below which loss and jitter are
// not judged.
const minStreamPackets = 50

type announcement struct {
	d     *dialogState
	party int
	addr  netip.AddrPort
}

type streamKey struct {
	src, dst netip.AddrPort
	ssrc     uint32
	d        *dialogState
}

// streamState is one RTP stream: its addresses, the call it belongs to
// and its running statistics.
type streamState struct {
	key     streamKey
	d       *dialogState
	toParty int // receiving party of d, -1 when unmatched
	bySrc   bool
	video   bool // a 90 kHz payload type at its start: video, not audio
	pt      uint8
	pts     []int // payload types seen, in order
	first   time.Time
	last    time.Time
	stats   rtpStats
	// ptimeMs is the packet interval from consecutive timestamps.
	ptimeMs float64
	prevSeq uint16
	prevTS  uint32
}

// staticRates are the clock rates of the static payload types (RFC 3551).
var staticRates = map[int]int{0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000,
	10: 44100, 11: 44100, 12: 8000, 13: 8000, 14: 90000, 15: 8000, 16: 11025, 17: 22050, 18: 8000,
	25: 90000, 26: 90000, 28: 90000, 31: 90000, 32: 90000, 33: 90000, 34: 90000}

func (a *Analyzer) addSDP(d *dialogState, ev *decode.Event) {
	body := ev.SIP.SDP
	party := sdpParty(d, ev)
	for _, m := range body.Media {
		conn := m.ConnAddr
		if conn == "" {
			conn = body.ConnAddr
		}
		rates := map[int]int{}
		names := map[int]string{}
		var codecs []string
		for _, rm := range m.RTPMap {
			ptS, enc, _ := strings.Cut(strings.TrimSpace(rm), " ")
			pt, err := strconv.Atoi(ptS)
			if err != nil {
				continue
			}
			name, rest, _ := strings.Cut(enc, "/")
			rateS, _, _ := strings.Cut(rest, "/")
			if r, err := strconv.Atoi(rateS); err == nil && r > 0 {
				rates[pt] = r
			}
			names[pt] = name
			codecs = append(codecs, name)
		}
		if len(codecs) == 0 {
			for _, f := range m.Formats {
				codecs = append(codecs, payloadLabel(f))
			}
		}
		dir := m.Direction
		if dir == "" {
			dir = "sendrecv"
		}
		rec := sdpRec{SDP: SDP{Frame: ev.Frame, Addr: conn, Port: m.Port, Codecs: codecs, Direction: dir},
			party: party, src: ev.Src, dst: ev.Dst, time: ev.Time, media: m.Type, rates: rates, names: names, direction: dir}
		ip, err := netip.ParseAddr(conn)
		if err == nil {
			ip = ip.Unmap()
			rec.Private = addrIsPrivate(ip)
			if m.Port > 0 && m.Port < 65536 && !ip.IsUnspecified() {
				rec.addr = netip.AddrPortFrom(ip, uint16(m.Port))
				an := announcement{d: d, party: party, addr: rec.addr}
				a.announced[rec.addr] = an
				if addrIsPublic(ip) {
					a.announcedPort[rec.addr.Port()] = an
				}
			}
		}
		if len(d.sdp) < maxMessages {
			d.sdp = append(d.sdp, rec)
		}
	}
}

// sdpParty is the party of d (0 the caller, 1 the callee) that sent the
// SIP message of ev. The From tag decides: the caller's requests carry the
// dialog's first From tag, and a response goes back to the requester. So a
// copy of the message seen on another hop (a proxy's or an SBC's, from
// another address) still belongs to its party. Without tags, the source
// address decides.
func sdpParty(d *dialogState, ev *decode.Event) int {
	m := ev.SIP
	if d.fromTag != "" && m.FromTag != "" {
		byCallerTag := m.FromTag == d.fromTag
		if byCallerTag == m.IsRequest() {
			return 0
		}
		return 1
	}
	if ev.Src == d.caller {
		return 0
	}
	return 1
}

func payloadLabel(pt int) string {
	switch pt {
	case 0:
		return "PCMU"
	case 8:
		return "PCMA"
	case 9:
		return "G722"
	case 18:
		return "G729"
	case 3:
		return "GSM"
	case 4:
		return "G723"
	}
	return strconv.Itoa(pt)
}

func (a *Analyzer) addRTP(ev *decode.Event) {
	h := ev.RTP
	var d *dialogState
	to, bySrc := -1, false
	if an, ok := a.announced[ev.Dst]; ok {
		d, to = an.d, an.party
	} else if an, ok := a.announced[ev.Src]; ok {
		d, to, bySrc = an.d, 1-an.party, true
	} else if an, ok := a.announcedPort[ev.Dst.Port()]; ok && addrIsPrivate(ev.Dst.Addr()) {
		// Sent to a private address on the port a call announced on a
		// public one: the receiver sits behind a 1:1 NAT (a cloud
		// server) and the capture saw the packet after translation.
		d, to = an.d, an.party
	}
	key := streamKey{ev.Src, ev.Dst, h.SSRC, d}
	st := a.streams[key]
	if st == nil {
		if len(a.streamOrd) >= maxStreams {
			a.droppedRTP++
			return
		}
		st = &streamState{key: key, d: d, toParty: to, bySrc: bySrc, pt: h.PayloadType, first: ev.Time}
		_, rate := encoding(d, to, int(h.PayloadType))
		st.video = rate == 90000
		a.streams[key] = st
		a.streamOrd = append(a.streamOrd, st)
		if !st.video {
			a.mediaDst[ev.Dst] = true
		}
		if d != nil {
			d.streams = append(d.streams, st)
		}
	}
	st.add(ev.Time, h)
	if d != nil && to >= 0 && !st.video {
		d.rtpTo[to]++ // audio only: video one way says nothing of the audio
	}
}

// encoding returns the encoding name and clock rate of a payload type
// sent to party of d. The receiver's own SDP maps the payload types it
// receives (RFC 3264 §5.1), so its latest a=rtpmap lines decide when it sent
// any SDP; else any SDP of the dialog; else the static types (RFC 3551).
func encoding(d *dialogState, party, pt int) (string, int) {
	if d != nil {
		receiverSpoke := false
		for i := len(d.sdp) - 1; i >= 0; i-- {
			if d.sdp[i].party == party && len(d.sdp[i].rates) > 0 {
				receiverSpoke = true
			}
		}
		for i := len(d.sdp) - 1; i >= 0; i-- {
			if receiverSpoke && d.sdp[i].party != party {
				continue
			}
			if r, ok := d.sdp[i].rates[pt]; ok {
				return d.sdp[i].names[pt], r
			}
		}
	}
	if r, ok := staticRates[pt]; ok {
		return payloadLabel(pt), r
	}
	return "", 0
}

// add counts one packet.
func (st *streamState) add(t time.Time, h *decode.RTPHeader) {
	pt := int(h.PayloadType)
	name, rate := encoding(st.d, st.toParty, pt)
	event := strings.EqualFold(name, "telephone-event")
	if event {
		rate = 0
	}
	if !slices.Contains(st.pts, pt) && len(st.pts) < 16 {
		st.pts = append(st.pts, pt)
	}
	if st.stats.started && h.Seq == st.prevSeq+1 && rate > 0 && !event && !isCN(pt) {
		if d := h.Timestamp - st.prevTS; d > 0 && d < uint32(rate) {
			st.ptimeMs = float64(d) * 1000 / float64(rate)
		}
	}
	st.prevSeq, st.prevTS = h.Seq, h.Timestamp
	if !isCN(pt) && !event {
		st.pt = h.PayloadType
	}
	st.stats.add(rtpPacket{t: t, seq: h.Seq, ts: h.Timestamp, pt: pt, marker: h.Marker, rate: rate, event: event})
	if t.After(st.last) {
		st.last = t
	}
	if st.first.IsZero() || t.Before(st.first) {
		st.first = t
	}
}

// announcedIPs returns the media addresses party announced in d.
func (d *dialogState) announcedIPs(party int) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, s := range d.sdp {
		if s.party == party && s.addr.IsValid() {
			out[s.addr.Addr()] = true
		}
	}
	return out
}

// partyAddr is the signalling address of a party of d.
func (d *dialogState) partyAddr(party int) (self, other netip.AddrPort) {
	if party == 0 {
		return d.caller, d.callee
	}
	return d.callee, d.caller
}

// build turns the stream's state into the report's RTPStream.
func (st *streamState) build(r *roles) RTPStream {
	s := RTPStream{SSRC: st.key.ssrc, PayloadType: int(st.pt), PayloadTypes: st.pts, Packets: st.stats.packets, Start: st.first, End: st.last}
	s.Src = Endpoint{IP: st.key.src.Addr().Unmap().String(), Port: int(st.key.src.Port()), Transport: "udp"}
	s.Dst = Endpoint{IP: st.key.dst.Addr().Unmap().String(), Port: int(st.key.dst.Port()), Transport: "udp"}
	st.fillStats(&s)
	if d := st.d; d != nil {
		s.CallID = d.callID
		recv, recvOther := d.partyAddr(st.toParty)
		s.Dst.Role = r.role(recv, recvOther)
		s.Src.Role = r.role(recvOther, recv)
		// Media the PBX sends is expected whatever its source: a capture on
		// the PBX sees it before the PBX's own NAT translates it.
		ips := d.announcedIPs(1 - st.toParty)
		s.Expected = st.bySrc || len(ips) == 0 || ips[st.key.src.Addr().Unmap()] || s.Src.Role == rolePBX
	} else {
		s.Src.Role, s.Dst.Role = mediaRole(r, st.key.src, st.key.dst), mediaRole(r, st.key.dst, st.key.src)
	}
	return s
}

func mediaRole(r *roles, ap, other netip.AddrPort) string {
	if r.pbx[ap.Addr().Unmap()] && !r.pbx[other.Addr().Unmap()] {
		return rolePBX
	}
	if p := r.peers[r.peerKey(ap)]; p != nil {
		return p.Role
	}
	return rolePeer
}

// latestSDP returns the latest audio description party sent in d.
func (d *dialogState) latestSDP(party int) *sdpRec {
	for i := len(d.sdp) - 1; i >= 0; i-- {
		s := &d.sdp[i]
		if s.party == party && (s.media == "audio" || s.media == "") {
			return s
		}
	}
	return nil
}

func sends(dir string) bool    { return dir != "recvonly" && dir != "inactive" }
func receives(dir string) bool { return dir != "sendonly" && dir != "inactive" }

// expectsAudio reports whether party should have received RTP in an
// answered call: both sides offered audio, the sender may send and the
// receiver may receive.
func (d *dialogState) expectsAudio(party int) bool {
	rx, tx := d.latestSDP(party), d.latestSDP(1-party)
	if rx == nil || tx == nil || rx.Port == 0 || tx.Port == 0 || !rx.addr.IsValid() {
		return false
	}
	return receives(rx.direction) && sends(tx.direction)
}

// silentParty reports whether party of d announced audio it should
// receive and no RTP reached any address it announced. A stream tied to
// another call counts: a B2BUA that hands the media over to the endpoints
// (Asterisk's direct media) announces the same addresses in both legs, and
// the stream is tied to one of them only.
func (a *Analyzer) silentParty(d *dialogState, party int) bool {
	if !d.expectsAudio(party) || d.rtpTo[party] > 0 {
		return false
	}
	for _, s := range d.sdp {
		if s.party == party && a.mediaDst[s.addr] {
			return false
		}
	}
	return true
}

// mediaWindow is how long the call was answered within the capture.
func (d *dialogState) mediaWindow(captureEnd time.Time) time.Duration {
	if d.answerTime.IsZero() {
		return 0
	}
	end := captureEnd
	if !d.byeTime.IsZero() {
		end = d.byeTime
	}
	return end.Sub(d.answerTime)
}

// fillStats copies loss, order, jitter and the quality estimate.
func (st *streamState) fillStats(s *RTPStream) {
	x := &st.stats
	s.Codec, _ = encoding(st.d, st.toParty, int(st.pt))
	s.Lost, s.Duplicates, s.OutOfOrder = x.lost(), x.dups, x.ooo
	s.LossBursts, s.MaxBurst = x.bursts, x.maxBurst
	if exp := x.expected(); exp > 0 {
		s.LossPercent = math.Round(float64(s.Lost)/float64(exp)*1000) / 10
	}
	s.JitterMs = math.Round(x.maxJit*100) / 100
	s.JitterMeanMs = math.Round(x.meanJit*100) / 100
	_, rate := encoding(st.d, st.toParty, int(st.pt))
	s.Video = rate == 90000 // the RTP clock of every video payload format
	if rate == 0 || s.Video || s.Packets < 2 {
		return // no clock rate: no jitter, no score
	}
	ptime := st.ptimeMs
	if ptime == 0 {
		ptime = 20
	}
	mean := 0.0
	if x.bursts > 0 {
		mean = float64(x.burstLost) / float64(x.bursts)
	}
	q := emodel(emodelInputs{codec: s.Codec, lossPct: s.LossPercent, meanBurst: mean, maxJitterMs: s.JitterMs, packetMs: ptime})
	s.Quality = &q
}
