// Command genlog writes a synthetic PortSIP callmanager.log for the bundle
// benchmark: timestamped lines with levels and modules, full SIP dialogs
// (REGISTER, INVITE, 100 Trying, 180 Ringing, 200 OK with SDP, ACK, BYE)
// with their Call-IDs, branches, tags and From/To/Contact headers, and the
// call-state, media and database lines around them. The output depends only
// on --seed and --size, so every run compresses the same way.
//
//	go run ./bench/genlog --size 1GiB --seed 1 > callmanager.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	size := flag.String("size", "1GiB", "bytes to write (e.g. 1GiB, 200MiB, 5000000)")
	seed := flag.Uint64("seed", 1, "random seed")
	out := flag.String("o", "-", "output file, - for standard output")
	flag.Parse()
	n, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(2)
	}
	var w io.Writer = os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	g := newGen(*seed)
	if err := g.run(bw, n); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

type gen struct {
	r    *rand.Rand
	now  time.Time
	line []byte
	body []byte
	tid  int
	// A PBX has a fixed set of tenants, extensions, trunks and agents;
	// only calls, dialogs and times vary.
	domains []string
	trunks  []string
	agents  []string
	pbxIP   string
	pubIP   string
}

func newGen(seed uint64) *gen {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &gen{
		r:     r,
		now:   time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		pbxIP: "10.0.1.20",
		pubIP: "203.0.113.20",
	}
	for i := range 12 {
		g.domains = append(g.domains, fmt.Sprintf("tenant%d.pbx.example.com", i+1))
	}
	for range 6 {
		g.trunks = append(g.trunks, fmt.Sprintf("198.51.100.%d", 2+r.IntN(250)))
	}
	g.agents = []string{
		"PortSIP UC Client Android - v13.2.1", "PortSIP UC Client iOS - v13.1.4",
		"Yealink SIP-T54W 96.86.0.70", "Grandstream GXP2170 1.0.11.64", "Fanvil X6U 2.12.1",
		"Linphone/5.2.5 (belle-sip/5.2.94)", "Zoiper rv2.10.20.3", "PortSIP VoIP SDK 19.3",
		"Cisco-CP8845/12.8.1", "snom D785/10.1.159.12",
	}
	return g
}

func (g *gen) hex(b []byte, n int) []byte {
	const digits = "0123456789abcdef"
	for range n {
		b = append(b, digits[g.r.IntN(16)])
	}
	return b
}

func (g *gen) alnum(b []byte, n int) []byte {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for range n {
		b = append(b, digits[g.r.IntN(len(digits))])
	}
	return b
}

// tick advances the clock by a few milliseconds and starts a log line.
func (g *gen) start(level, module string) {
	g.now = g.now.Add(time.Duration(g.r.IntN(4000)) * time.Microsecond)
	b := g.line[:0]
	b = g.now.AppendFormat(b, "2006-01-02 15:04:05.000000")
	b = append(b, " ["...)
	b = append(b, level...)
	b = append(b, "] ["...)
	b = strconv.AppendInt(b, int64(g.tid), 10)
	b = append(b, "] ["...)
	b = append(b, module...)
	b = append(b, "] "...)
	g.line = b
}

type party struct {
	ext, name, domain, ip string
	port                  int
	tag                   []byte
	agent                 string
}

type call struct {
	id           []byte
	caller       party
	callee       party
	cseq         int
	sessID       int64
	rtpA, rtpB   int
	mediaIP      string
	trunk        bool
	codecs       string
	transportUDP bool
}

var names = []string{"Alice Martin", "Bob Chen", "Carlos Diaz", "Dana Kim", "Eve Novak", "Frank Okafor",
	"Grace Li", "Hiro Tanaka", "Ines Duarte", "Jon Berg", "Kara Singh", "Luca Rossi", "Mia Weber", "Nina Sato"}

func (g *gen) ip() string {
	switch g.r.IntN(3) {
	case 0:
		return fmt.Sprintf("192.168.%d.%d", g.r.IntN(8), 2+g.r.IntN(250))
	case 1:
		return fmt.Sprintf("10.%d.%d.%d", g.r.IntN(4), g.r.IntN(32), 2+g.r.IntN(250))
	}
	return fmt.Sprintf("%d.%d.%d.%d", 20+g.r.IntN(180), g.r.IntN(256), g.r.IntN(256), 2+g.r.IntN(250))
}

func (g *gen) party(domain string) party {
	p := party{
		ext:    strconv.Itoa(1000 + g.r.IntN(400)),
		name:   names[g.r.IntN(len(names))],
		domain: domain,
		ip:     g.ip(),
		port:   5060,
		agent:  g.agents[g.r.IntN(len(g.agents))],
	}
	if g.r.IntN(3) > 0 {
		p.port = 1024 + g.r.IntN(60000)
	}
	p.tag = g.hex(nil, 8)
	return p
}

func (g *gen) newCall() *call {
	d := g.domains[g.r.IntN(len(g.domains))]
	c := &call{
		caller:       g.party(d),
		callee:       g.party(d),
		cseq:         1 + g.r.IntN(20),
		sessID:       g.r.Int64N(1 << 40),
		rtpA:         45000 + 2*g.r.IntN(10000),
		rtpB:         45000 + 2*g.r.IntN(10000),
		trunk:        g.r.IntN(3) == 0,
		transportUDP: g.r.IntN(4) > 0,
	}
	if c.trunk {
		c.callee.ext = fmt.Sprintf("+1%03d%03d%04d", 200+g.r.IntN(700), 200+g.r.IntN(700), g.r.IntN(10000))
		c.callee.ip = g.trunks[g.r.IntN(len(g.trunks))]
		c.callee.domain = c.callee.ip
		c.callee.port = 5060
		c.callee.name = ""
	}
	c.mediaIP = c.caller.ip
	c.id = g.alnum(nil, 22)
	if g.r.IntN(2) == 0 {
		c.id = append(c.id, '@')
		c.id = append(c.id, c.caller.ip...)
	}
	c.codecs = []string{"0 8 18 101", "9 0 8 101", "111 0 8 101", "8 0 101"}[g.r.IntN(4)]
	return c
}

func (g *gen) emit(w *bufio.Writer) (int64, error) {
	g.line = append(g.line, '\n')
	n, err := w.Write(g.line)
	return int64(n), err
}

func (c *call) transport() string {
	if c.transportUDP {
		return "UDP"
	}
	return "TCP"
}

// sip writes one SIP message dump: a header line then the message. For a
// request, fromCaller says who sent it; for a response, who answers it (the
// response goes to the other side, the request's sender).
func (g *gen) sip(w *bufio.Writer, c *call, recv bool, first string, method string, status bool, fromCaller bool, sdp bool, branch []byte) (int64, error) {
	src, dst := c.caller, c.callee
	if !fromCaller {
		src, dst = dst, src
	}
	// Every message here is on the caller's leg: requests are received from
	// their sender, responses are sent back to the request's sender (its Via).
	peer, via := src, src
	if status {
		peer, via = dst, dst
	}
	if !recv && !status {
		peer = dst
	}
	if status {
		src.ip, src.port = g.pubIP, 5060
	}
	body := g.body[:0]
	if sdp {
		ip := c.mediaIP
		port := c.rtpA
		if !fromCaller {
			ip, port = g.pubIP, c.rtpB
		}
		body = append(body, "v=0\r\no=- "...)
		body = strconv.AppendInt(body, c.sessID, 10)
		body = append(body, ' ')
		body = strconv.AppendInt(body, c.sessID+int64(c.cseq), 10)
		body = append(body, " IN IP4 "...)
		body = append(body, ip...)
		body = append(body, "\r\ns=PortSIP\r\nc=IN IP4 "...)
		body = append(body, ip...)
		body = append(body, "\r\nt=0 0\r\nm=audio "...)
		body = strconv.AppendInt(body, int64(port), 10)
		body = append(body, " RTP/AVP "...)
		body = append(body, c.codecs...)
		body = append(body, "\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"...)
		if strings.HasPrefix(c.codecs, "9") {
			body = append(body, "a=rtpmap:9 G722/8000\r\n"...)
		}
		if strings.HasPrefix(c.codecs, "111") {
			body = append(body, "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=20;useinbandfec=1\r\n"...)
		}
		body = append(body, "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"...)
		if g.r.IntN(2) == 0 {
			body = append(body, "a=ssrc:"...)
			body = strconv.AppendUint(body, uint64(g.r.Uint32()), 10)
			body = append(body, " cname:"...)
			body = g.alnum(body, 16)
			body = append(body, "\r\n"...)
		}
	}
	g.body = body

	g.start("DEBUG", "SIPStack")
	if recv {
		g.line = append(g.line, "Received "...)
	} else {
		g.line = append(g.line, "Sent "...)
	}
	g.line = append(g.line, c.transport()...)
	if recv {
		g.line = append(g.line, " message from "...)
	} else {
		g.line = append(g.line, " message to "...)
	}
	g.line = append(g.line, peer.ip...)
	g.line = append(g.line, ':')
	g.line = strconv.AppendInt(g.line, int64(peer.port), 10)
	g.line = append(g.line, ":"...)
	var total int64
	n, err := g.emit(w)
	total += n
	if err != nil {
		return total, err
	}

	b := g.line[:0]
	b = append(b, first...)
	b = append(b, "\r\nVia: SIP/2.0/"...)
	b = append(b, c.transport()...)
	b = append(b, ' ')
	b = append(b, via.ip...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(via.port), 10)
	b = append(b, ";branch=z9hG4bK"...)
	b = append(b, branch...)
	b = append(b, ";rport"...)
	if recv || status {
		b = append(b, "="...)
		b = strconv.AppendInt(b, int64(via.port), 10)
		b = append(b, ";received="...)
		b = append(b, via.ip...)
	}
	b = append(b, "\r\n"...)
	if !status {
		b = append(b, "Max-Forwards: 70\r\n"...)
	}
	b = append(b, "Contact: <sip:"...)
	b = append(b, src.ext...)
	b = append(b, '@')
	b = append(b, src.ip...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(src.port), 10)
	b = append(b, ";transport="...)
	b = append(b, strings.ToLower(c.transport())...)
	b = append(b, ">\r\nTo: "...)
	if c.callee.name != "" {
		b = append(b, '"')
		b = append(b, c.callee.name...)
		b = append(b, "\" "...)
	}
	b = append(b, "<sip:"...)
	b = append(b, c.callee.ext...)
	b = append(b, '@')
	b = append(b, c.callee.domain...)
	b = append(b, '>')
	if method != "INVITE" || status {
		if !(status && strings.HasPrefix(first, "SIP/2.0 100")) {
			b = append(b, ";tag="...)
			b = append(b, c.callee.tag...)
		}
	}
	b = append(b, "\r\nFrom: \""...)
	b = append(b, c.caller.name...)
	b = append(b, "\" <sip:"...)
	b = append(b, c.caller.ext...)
	b = append(b, '@')
	b = append(b, c.caller.domain...)
	b = append(b, ">;tag="...)
	b = append(b, c.caller.tag...)
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, c.id...)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendInt(b, int64(c.cseq), 10)
	b = append(b, ' ')
	b = append(b, method...)
	b = append(b, "\r\n"...)
	if method == "INVITE" && !status {
		b = append(b, "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, UPDATE, MESSAGE, PRACK, SUBSCRIBE\r\n"...)
		b = append(b, "Supported: timer, replaces, norefersub, 100rel\r\nSession-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n"...)
	}
	if !status || g.r.IntN(2) == 0 {
		b = append(b, "User-Agent: "...)
		b = append(b, src.agent...)
		b = append(b, "\r\n"...)
	} else {
		b = append(b, "Server: PortSIP PBX 22.3.2\r\n"...)
	}
	if len(body) > 0 {
		b = append(b, "Content-Type: application/sdp\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	b = append(b, '\n')
	g.line = b
	m, err := w.Write(b)
	return total + int64(m), err
}

func (g *gen) info(w *bufio.Writer, level, module, msg string, c *call) (int64, error) {
	g.start(level, module)
	g.line = append(g.line, msg...)
	if c != nil {
		g.line = append(g.line, " callId="...)
		g.line = append(g.line, c.id...)
		g.line = append(g.line, " caller="...)
		g.line = append(g.line, c.caller.ext...)
		g.line = append(g.line, " callee="...)
		g.line = append(g.line, c.callee.ext...)
	}
	return g.emit(w)
}

func (g *gen) dialog(w *bufio.Writer) (int64, error) {
	var total int64
	add := func(n int64, err error) error { total += n; return err }
	g.tid = 1200 + g.r.IntN(64)
	c := g.newCall()
	br := g.hex(nil, 16)
	steps := []func() error{
		func() error {
			return add(g.sip(w, c, true, "INVITE sip:"+c.callee.ext+"@"+c.callee.domain+" SIP/2.0", "INVITE", false, true, true, br))
		},
		func() error {
			return add(g.sip(w, c, false, "SIP/2.0 100 Trying", "INVITE", true, false, false, br))
		},
		func() error {
			return add(g.info(w, "INFO", "CallManager", "New call session "+strconv.Itoa(g.r.IntN(1_000_000))+" routed by "+[]string{"extension", "outbound rule", "ring group", "virtual receptionist", "call queue"}[g.r.IntN(5)], c))
		},
		func() error {
			return add(g.sip(w, c, false, "SIP/2.0 180 Ringing", "INVITE", true, false, false, br))
		},
		func() error {
			return add(g.sip(w, c, false, "SIP/2.0 200 OK", "INVITE", true, false, true, br))
		},
		func() error {
			return add(g.sip(w, c, true, "ACK sip:"+c.callee.ext+"@"+c.callee.domain+" SIP/2.0", "ACK", false, true, false, g.hex(nil, 16)))
		},
		func() error {
			return add(g.info(w, "INFO", "MediaServer", "RTP session started "+c.mediaIP+":"+strconv.Itoa(c.rtpA)+" <-> "+g.pubIP+":"+strconv.Itoa(c.rtpB)+" codec="+[]string{"PCMU", "PCMA", "G722", "opus"}[g.r.IntN(4)], c))
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return total, err
		}
	}
	// Noise between call setup and hang-up: registrations, OPTIONS keep-alives,
	// database and CDR lines.
	for range g.r.IntN(4) {
		if err := add(g.noise(w)); err != nil {
			return total, err
		}
	}
	c.cseq++
	byeFromCaller := g.r.IntN(2) == 0
	byeBranch := g.hex(nil, 16)
	if err := add(g.sip(w, c, true, "BYE sip:"+c.callee.ext+"@"+c.callee.ip+" SIP/2.0", "BYE", false, byeFromCaller, false, byeBranch)); err != nil {
		return total, err
	}
	if err := add(g.sip(w, c, false, "SIP/2.0 200 OK", "BYE", true, !byeFromCaller, false, byeBranch)); err != nil {
		return total, err
	}
	dur := g.r.IntN(1800)
	err := add(g.info(w, "INFO", "CDR", "Call ended duration="+strconv.Itoa(dur)+"s reason="+[]string{"normal clearing", "caller hang up", "callee hang up", "no answer", "busy"}[g.r.IntN(5)]+" mos="+strconv.FormatFloat(3.5+g.r.Float64(), 'f', 2, 64), c))
	return total, err
}

func (g *gen) noise(w *bufio.Writer) (int64, error) {
	g.tid = 1100 + g.r.IntN(32)
	g.start([]string{"INFO", "DEBUG", "DEBUG", "WARN", "INFO"}[g.r.IntN(5)], []string{"Registrar", "Database", "Presence", "TrunkMonitor", "Scheduler"}[g.r.IntN(5)])
	b := g.line
	switch g.r.IntN(5) {
	case 0:
		b = append(b, "REGISTER from "...)
		b = append(b, g.ip()...)
		b = append(b, " user="...)
		b = strconv.AppendInt(b, int64(1000+g.r.IntN(400)), 10)
		b = append(b, '@')
		b = append(b, g.domains[g.r.IntN(len(g.domains))]...)
		b = append(b, " expires=3600 result=200 contact-id="...)
		b = g.hex(b, 12)
	case 1:
		b = append(b, "Query extension_info took "...)
		b = strconv.AppendInt(b, int64(g.r.IntN(40)), 10)
		b = append(b, "ms rows="...)
		b = strconv.AppendInt(b, int64(g.r.IntN(5)), 10)
	case 2:
		b = append(b, "OPTIONS keep-alive to trunk "...)
		b = append(b, g.trunks[g.r.IntN(len(g.trunks))]...)
		b = append(b, ":5060 answered 200 OK in "...)
		b = strconv.AppendInt(b, int64(5+g.r.IntN(200)), 10)
		b = append(b, "ms"...)
	case 3:
		b = append(b, "Presence NOTIFY extension "...)
		b = strconv.AppendInt(b, int64(1000+g.r.IntN(400)), 10)
		b = append(b, " state="...)
		b = append(b, []string{"idle", "ringing", "busy", "dnd", "away"}[g.r.IntN(5)]...)
		b = append(b, " subscribers="...)
		b = strconv.AppendInt(b, int64(g.r.IntN(12)), 10)
	default:
		b = append(b, "Failed authentication for REGISTER from "...)
		b = append(b, g.ip()...)
		b = append(b, " user="...)
		b = strconv.AppendInt(b, int64(100+g.r.IntN(9900)), 10)
		b = append(b, " (wrong password), attempts="...)
		b = strconv.AppendInt(b, int64(1+g.r.IntN(5)), 10)
	}
	g.line = b
	return g.emit(w)
}

func (g *gen) run(w *bufio.Writer, size int64) error {
	// Lines are built in full and cut at the end to the exact size.
	var written int64
	cw := &capWriter{w: w, left: size}
	bw := bufio.NewWriterSize(cw, 64<<10)
	for cw.left > 0 {
		var n int64
		var err error
		if g.r.IntN(5) == 0 {
			n, err = g.noise(bw)
		} else {
			n, err = g.dialog(bw)
		}
		written += n
		if err != nil {
			if err == errFull {
				break
			}
			return err
		}
	}
	if err := bw.Flush(); err != nil && err != errFull {
		return err
	}
	return nil
}

var errFull = fmt.Errorf("size reached")

// capWriter passes at most `left` bytes, ending the file on a newline.
type capWriter struct {
	w    io.Writer
	left int64
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errFull
	}
	if int64(len(p)) >= c.left {
		p = p[:c.left]
		if c.left > 0 {
			p[len(p)-1] = '\n'
		}
		n, err := c.w.Write(p)
		c.left -= int64(n)
		if err != nil {
			return n, err
		}
		return n, errFull
	}
	n, err := c.w.Write(p)
	c.left -= int64(n)
	return n, err
}
