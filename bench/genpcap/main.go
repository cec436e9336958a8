// Command genpcap writes a deterministic pcap of SIP calls with their RTP
// for the analysis benchmark (bench/analyze.sh).
//
// The capture is taken on the PBX (198.51.100.10) and holds calls from
// extensions on private addresses (10.1.0.0/16), remote extensions
// (192.0.2.0/24) and a SIP trunk (203.0.113.0/24): INVITE, 100 Trying,
// 180 Ringing, 200 OK with SDP, ACK, 50 packets per second of G.711 RTP
// (160-byte payloads) in each direction on ports 45000-65000 with a
// periodic RTCP report, BYE and 200 OK. About one call in eight fails
// (404, 480 or 503) and one in twenty has its INVITE retransmitted. The
// link type is Ethernet, timestamps microseconds; the same seed and size
// give the same file.
//
//	go run ./bench/genpcap -size 1GiB -o bench/out/analyze-1g.pcap
package main

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

var pbx = netip.MustParseAddr("198.51.100.10")

func main() {
	size := flag.String("size", "1GiB", "file size to reach (bytes, or with KiB, MiB, GiB)")
	out := flag.String("o", "analyze.pcap", "output file")
	seed := flag.Uint64("seed", 1, "random seed")
	concurrent := flag.Int("calls", 250, "concurrent calls")
	flag.Parse()
	limit, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
	g := newGen(bufio.NewWriterSize(f, 4<<20), *seed, limit)
	g.run(*concurrent)
	if err := g.w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
	fmt.Printf("file=%s bytes=%d packets=%d calls=%d failed=%d sip=%d rtp=%d\n",
		*out, g.written, g.packets, g.calls, g.failed, g.sip, g.rtp)
}

func parseSize(s string) (int64, error) {
	mul := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if strings.HasSuffix(s, suffix) && mul == 1 {
			s, mul = strings.TrimSuffix(s, suffix), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mul, nil
}

// call is one call's state; calls are kept in a heap by the time of their
// next packet.
type call struct {
	id          int
	next        time.Duration
	state       int
	peer        netip.Addr
	peerPort    uint16 // SIP port of the caller
	peerRTP     uint16
	pbxRTP      uint16
	callID      string
	fromTag     string
	toTag       string
	branch      string
	fail        int // final status of a failing call, 0 for an answered one
	retransmit  bool
	mediaEnd    time.Duration
	seqA, seqB  uint16
	tsA, tsB    uint32
	ssrcA       uint32
	ssrcB       uint32
	pkts        int
	byFromPeer  bool
	ua          string
	calleeExten int
}

type callHeap []*call

func (h callHeap) Len() int { return len(h) }
func (h callHeap) Less(i, j int) bool {
	return h[i].next < h[j].next || h[i].next == h[j].next && h[i].id < h[j].id
}
func (h callHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *callHeap) Push(x any)   { *h = append(*h, x.(*call)) }
func (h *callHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

type gen struct {
	w                                *bufio.Writer
	rng                              *rand.Rand
	limit, written                   int64
	packets, calls, failed, sip, rtp int64
	base                             time.Time
	buf                              []byte
	ipID                             uint16
	payload                          [160]byte
}

func newGen(w *bufio.Writer, seed uint64, limit int64) *gen {
	g := &gen{w: w, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), limit: limit,
		base: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)}
	for i := range g.payload {
		g.payload[i] = byte(0xd5 ^ i) // A-law silence-ish
	}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	g.write(hdr)
	return g
}

func (g *gen) write(b []byte) {
	g.w.Write(b)
	g.written += int64(len(b))
}

func (g *gen) run(concurrent int) {
	h := &callHeap{}
	for i := 0; i < concurrent; i++ {
		// Stagger the first calls over ten seconds.
		heap.Push(h, g.newCall(time.Duration(g.rng.Int64N(int64(10*time.Second)))))
	}
	for g.written < g.limit && h.Len() > 0 {
		c := (*h)[0]
		if g.step(c) {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
			heap.Push(h, g.newCall(c.next+time.Duration(g.rng.Int64N(int64(2*time.Second)))))
		}
	}
}

func (g *gen) newCall(at time.Duration) *call {
	g.calls++
	n := g.calls
	c := &call{id: int(n), next: at, peerPort: 5060}
	switch r := g.rng.IntN(10); {
	case r < 6: // extension on the LAN
		c.peer = netip.AddrFrom4([4]byte{10, 1, byte(g.rng.IntN(4)), byte(10 + g.rng.IntN(240))})
		c.ua = "Yealink SIP-T54W 96.86.0.70"
	case r < 8: // remote extension
		c.peer = netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + g.rng.IntN(240))})
		c.peerPort = uint16(20000 + g.rng.IntN(40000))
		c.ua = "PortSIP UAC 16.3"
	default: // trunk
		c.peer = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + g.rng.IntN(4))})
		c.ua = "Trunk-SBC 4.2"
	}
	c.peerRTP = uint16(45000 + 2*g.rng.IntN(10000))
	c.pbxRTP = uint16(45000 + 2*g.rng.IntN(10000))
	c.callID = fmt.Sprintf("%016x@%s", g.rng.Uint64(), c.peer)
	c.fromTag = strconv.FormatUint(g.rng.Uint64()&0xffffffff, 16)
	c.toTag = strconv.FormatUint(g.rng.Uint64()&0xffffffff, 16)
	c.branch = "z9hG4bK" + strconv.FormatUint(g.rng.Uint64(), 36)
	if g.rng.IntN(8) == 0 {
		c.fail = []int{404, 480, 503}[g.rng.IntN(3)]
		g.failed++
	}
	c.retransmit = g.rng.IntN(20) == 0
	c.ssrcA, c.ssrcB = g.rng.Uint32(), g.rng.Uint32()
	c.seqA, c.seqB = uint16(g.rng.Uint32()), uint16(g.rng.Uint32())
	c.byFromPeer = g.rng.IntN(2) == 0
	c.calleeExten = 100 + g.rng.IntN(900)
	return c
}

// step emits the call's next packet(s) and schedules the one after; it
// returns false when the call is over.
func (g *gen) step(c *call) bool {
	ms := func(lo, hi int) time.Duration {
		return time.Duration(lo+g.rng.IntN(hi-lo+1)) * time.Millisecond
	}
	peer := netip.AddrPortFrom(c.peer, c.peerPort)
	p := netip.AddrPortFrom(pbx, 5060)
	switch c.state {
	case 0:
		g.sipPkt(c, peer, p, g.invite(c))
		c.state, c.next = 1, c.next+ms(1, 3)
		if c.retransmit {
			c.state, c.next = 10, c.next+500*time.Millisecond
		}
	case 10:
		g.sipPkt(c, peer, p, g.invite(c))
		c.state, c.next = 1, c.next+ms(1, 3)
	case 1:
		g.sipPkt(c, p, peer, g.response(c, 100, "Trying", false, false))
		if c.fail != 0 {
			c.state, c.next = 20, c.next+ms(50, 4000)
		} else {
			c.state, c.next = 2, c.next+ms(50, 1500)
		}
	case 20:
		reason := map[int]string{404: "Not Found", 480: "Temporarily Unavailable", 503: "Service Unavailable"}[c.fail]
		g.sipPkt(c, p, peer, g.response(c, c.fail, reason, true, false))
		c.state, c.next = 21, c.next+ms(1, 5)
	case 21:
		g.sipPkt(c, peer, p, g.request(c, "ACK", 1, false))
		return false
	case 2:
		g.sipPkt(c, p, peer, g.response(c, 180, "Ringing", true, false))
		c.state, c.next = 3, c.next+ms(1000, 8000)
	case 3:
		g.sipPkt(c, p, peer, g.response(c, 200, "OK", true, true))
		c.state, c.next = 4, c.next+ms(5, 40)
	case 4:
		g.sipPkt(c, peer, p, g.request(c, "ACK", 1, false))
		c.state, c.next = 5, c.next+ms(1, 20)
		c.mediaEnd = c.next + time.Duration(20+g.rng.IntN(160))*time.Second
	case 5:
		g.rtpPkt(c, true)
		g.rtpPkt(c, false)
		c.pkts++
		if c.pkts%250 == 0 { // an RTCP report each way every 5 s
			g.rtcpPkt(c, true)
			g.rtcpPkt(c, false)
		}
		c.next += 20 * time.Millisecond
		if c.next >= c.mediaEnd {
			c.state = 6
		}
	case 6:
		if c.byFromPeer {
			g.sipPkt(c, peer, p, g.request(c, "BYE", 2, true))
		} else {
			g.sipPkt(c, p, peer, g.request(c, "BYE", 2, false))
		}
		c.state, c.next = 7, c.next+ms(5, 60)
	case 7:
		resp := g.response(c, 200, "OK", true, false)
		resp = strings.Replace(resp, "CSeq: 1 INVITE", "CSeq: 2 BYE", 1)
		if c.byFromPeer {
			g.sipPkt(c, p, peer, resp)
		} else {
			g.sipPkt(c, peer, p, resp)
		}
		return false
	}
	return true
}

func (g *gen) sdp(addr netip.Addr, port uint16, sess uint64) string {
	return fmt.Sprintf("v=0\r\no=- %d %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 8 0 101\r\n"+
		"a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
		sess, sess, addr, addr, port)
}

func (g *gen) invite(c *call) string {
	body := g.sdp(c.peer, c.peerRTP, uint64(c.id))
	return fmt.Sprintf("INVITE sip:%d@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"Contact: <sip:caller%d@%s:%d>\r\n"+
		"To: <sip:%d@%s>\r\n"+
		"From: <sip:caller%d@%s>;tag=%s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"+
		"Content-Type: application/sdp\r\n"+
		"User-Agent: %s\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		c.calleeExten, pbx, c.peer, c.peerPort, c.branch, c.id%1000, c.peer, c.peerPort,
		c.calleeExten, pbx, c.id%1000, pbx, c.fromTag, c.callID, c.ua, len(body), body)
}

func (g *gen) response(c *call, code int, reason string, toTag, sdp bool) string {
	tt := ""
	if toTag {
		tt = ";tag=" + c.toTag
	}
	body := ""
	if sdp {
		body = g.sdp(pbx, c.pbxRTP, uint64(c.id)+1e6)
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\nContact: <sip:" + strconv.Itoa(c.calleeExten) + "@" + pbx.String() + ":5060>\r\n"
	}
	return fmt.Sprintf("SIP/2.0 %d %s\r\n"+
		"Via: SIP/2.0/UDP %s:%d;branch=%s;rport=%d;received=%s\r\n"+
		"To: <sip:%d@%s>%s\r\n"+
		"From: <sip:caller%d@%s>;tag=%s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"%sServer: PortSIP PBX 22.1\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		code, reason, c.peer, c.peerPort, c.branch, c.peerPort, c.peer,
		c.calleeExten, pbx, tt, c.id%1000, pbx, c.fromTag, c.callID, ct, len(body), body)
}

func (g *gen) request(c *call, method string, cseq int, fromPeer bool) string {
	via := fmt.Sprintf("%s:%d", c.peer, c.peerPort)
	uri := fmt.Sprintf("sip:%d@%s", c.calleeExten, pbx)
	if !fromPeer && method == "BYE" {
		via = pbx.String() + ":5060"
		uri = fmt.Sprintf("sip:caller%d@%s:%d", c.id%1000, c.peer, c.peerPort)
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%x\r\n"+
		"Max-Forwards: 70\r\n"+
		"To: <sip:%d@%s>;tag=%s\r\n"+
		"From: <sip:caller%d@%s>;tag=%s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"Content-Length: 0\r\n\r\n",
		method, uri, via, g.rng.Uint64(), c.calleeExten, pbx, c.toTag, c.id%1000, pbx, c.fromTag, c.callID, cseq, method)
}

func (g *gen) sipPkt(c *call, src, dst netip.AddrPort, msg string) {
	g.sip++
	g.udp(c.next, src, dst, []byte(msg))
}

func (g *gen) rtpPkt(c *call, fromPeer bool) {
	var b [12 + 160]byte
	b[0], b[1] = 0x80, 8
	src := netip.AddrPortFrom(c.peer, c.peerRTP)
	dst := netip.AddrPortFrom(pbx, c.pbxRTP)
	seq, ts, ssrc := &c.seqA, &c.tsA, c.ssrcA
	if !fromPeer {
		src, dst = dst, src
		seq, ts, ssrc = &c.seqB, &c.tsB, c.ssrcB
	}
	if c.pkts == 0 {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], *seq)
	binary.BigEndian.PutUint32(b[4:], *ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	copy(b[12:], g.payload[:])
	*seq++
	*ts += 160
	g.rtp++
	// A little jitter: up to 2 ms late.
	g.udp(c.next+time.Duration(g.rng.IntN(2000))*time.Microsecond/4, src, dst, b[:])
}

func (g *gen) rtcpPkt(c *call, fromPeer bool) {
	b := make([]byte, 28)
	b[0], b[1] = 0x80, 200
	binary.BigEndian.PutUint16(b[2:], 6)
	src := netip.AddrPortFrom(c.peer, c.peerRTP+1)
	dst := netip.AddrPortFrom(pbx, c.pbxRTP+1)
	ssrc := c.ssrcA
	if !fromPeer {
		src, dst, ssrc = dst, src, c.ssrcB
	}
	binary.BigEndian.PutUint32(b[4:], ssrc)
	g.udp(c.next, src, dst, b)
}

// udp writes one pcap record: Ethernet, IPv4, UDP.
func (g *gen) udp(at time.Duration, src, dst netip.AddrPort, payload []byte) {
	n := 14 + 20 + 8 + len(payload)
	need := 16 + n
	if cap(g.buf) < need {
		g.buf = make([]byte, need)
	}
	b := g.buf[:need]
	ts := g.base.Add(at)
	binary.LittleEndian.PutUint32(b[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(b[4:], uint32(ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
	e := b[16:]
	copy(e, []byte{0x00, 0x50, 0x56, 0x01, 0x02, 0x03, 0x00, 0x50, 0x56, 0x0a, 0x0b, 0x0c, 0x08, 0x00})
	ip := e[14:]
	ip[0], ip[1] = 0x45, 0xb8 // DSCP EF
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	g.ipID++
	binary.BigEndian.PutUint16(ip[4:], g.ipID)
	ip[6], ip[7], ip[8], ip[9] = 0x40, 0, 64, 17
	ip[10], ip[11] = 0, 0
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	u[6], u[7] = 0, 0
	copy(u[8:], payload)
	g.packets++
	g.write(b)
}
