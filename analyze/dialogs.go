package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// dupWindow: the same SIP message seen again within this time is the same
// packet captured twice (on two interfaces), not a retransmission; SIP's
// shortest retransmission interval (T1) is 500 ms.
const dupWindow = 20 * time.Millisecond

// timerB is SIP's transaction timeout (64 × T1): a request over TCP or TLS
// that got nothing back for this long went unanswered.
const timerB = 32 * time.Second

// Dialog kinds.
const (
	kindCall = iota
	kindRegister
	kindOther
)

// Roles of endpoints.
const (
	rolePBX       = "pbx"
	roleExtension = "extension"
	roleTrunk     = "trunk"
	rolePeer      = "peer"
)

// Directions of dialogs, as Dialog.Direction spells them.
const (
	dirExtToPBX   = "extension→PBX"
	dirPBXToExt   = "PBX→extension"
	dirPBXToTrunk = "PBX→trunk"
	dirTrunkToPBX = "trunk→PBX"
	dirUnknown    = "unknown"
)

// txKey names one transaction on one hop: the request's src and dst (a
// response's dst and src).
type txKey struct {
	branch   string
	cseq     uint32
	method   string
	src, dst netip.AddrPort
}

type respKey struct {
	status int
	toTag  string
}

// tx is one SIP transaction: a request, its retransmissions and responses.
type tx struct {
	key       txKey
	method    string
	src, dst  netip.AddrPort
	transport string
	ruri      string
	ua        string
	respUA    string // the responses' User-Agent or Server
	inDialog  bool   // the request carried a To tag
	auth      bool   // Authorization or Proxy-Authorization present
	seen      bool   // the request itself was captured

	first, last time.Time
	sent        int
	frames      []int

	responses   int
	firstResp   time.Time
	final       int
	finalReason string
	finalFrame  int
	finalTime   time.Time
	finalSrc    netip.AddrPort
	respSeen    map[respKey]time.Time

	icmp      bool // an ICMP error came back for it
	icmpFrame int
}

// msgRec is one kept message with its raw addresses (roles are assigned
// once the whole capture has been seen).
type msgRec struct {
	Message
	src, dst  netip.AddrPort
	transport string
}

// sdpRec is one SDP media description as seen.
type sdpRec struct {
	SDP
	party     int // 0: the caller (sender of the first request), 1: the other party
	src, dst  netip.AddrPort
	addr      netip.AddrPort
	time      time.Time
	media     string
	rates     map[int]int    // payload type → clock rate
	names     map[int]string // payload type → encoding name
	direction string
}

type dialogState struct {
	callID    string
	kind      int
	method    string
	from, to  string
	fromTag   string // the initial request's From tag: the caller's
	ruri      string
	uas       []string
	caller    netip.AddrPort
	callee    netip.AddrPort
	transport string
	start     time.Time
	end       time.Time

	msgs     []msgRec
	msgTotal int
	retrans  int

	txs      map[txKey]*tx
	txOrder  []*tx
	initial  *tx
	firstReq *tx

	firstResp  time.Time
	answerTime time.Time
	byeTime    time.Time
	cancelled  bool

	sdp     []sdpRec
	rtpTo   [2]int64 // audio RTP packets received by each party
	streams []*streamState
	creds   map[netip.AddrPort]bool
}

type reqRef struct {
	d  *dialogState
	tx *tx
}

type icmpHit struct {
	frame int
	time  time.Time
	from  netip.AddrPort // sender of the ICMP error
	d     *dialogState
	tx    *tx
	dst   netip.AddrPort // the unreachable destination
}

func kindOf(method string) int {
	switch method {
	case "INVITE":
		return kindCall
	case "REGISTER":
		return kindRegister
	}
	return kindOther
}

func topBranch(m *decode.SIPMessage) string {
	if len(m.Via) == 0 {
		return ""
	}
	for _, p := range strings.Split(m.Via[0], ";")[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "branch") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func hasHeader(m *decode.SIPMessage, names ...string) bool {
	for _, n := range names {
		if len(m.Headers[n]) > 0 {
			return true
		}
		for k, v := range m.Headers {
			if strings.EqualFold(k, n) && len(v) > 0 {
				return true
			}
		}
	}
	return false
}

func (a *Analyzer) dialog(ev *decode.Event) *dialogState {
	m := ev.SIP
	id := m.CallID
	if d := a.dialogs[id]; d != nil {
		return d
	}
	method := m.Method
	if method == "" {
		method = m.CSeqMethod
	}
	kind := kindOf(method)
	switch {
	case kind == kindOther && a.others >= maxOtherDialogs,
		kind != kindOther && a.calls+a.regs >= maxDialogs:
		a.droppedDlg++
		return nil
	}
	d := &dialogState{callID: id, kind: kind, method: method, from: m.From, to: m.To, fromTag: m.FromTag,
		txs: map[txKey]*tx{}, creds: map[netip.AddrPort]bool{}, start: ev.Time, end: ev.Time,
		transport: ev.Transport}
	if m.Method != "" {
		d.caller, d.callee, d.ruri = ev.Src, ev.Dst, m.RequestURI
	} else {
		d.caller, d.callee = ev.Dst, ev.Src
	}
	switch kind {
	case kindCall:
		a.calls++
	case kindRegister:
		a.regs++
	default:
		a.others++
	}
	a.dialogs[id] = d
	a.order = append(a.order, d)
	return d
}

func (a *Analyzer) addSIP(ev *decode.Event) {
	m := ev.SIP
	d := a.dialog(ev)
	if d == nil {
		return
	}
	// A dialog first seen through another method becomes a call once an
	// INVITE shows up (a BYE before the INVITE's retransmission, say).
	if m.Method == "INVITE" && d.kind == kindOther && d.firstReq == nil {
		d.kind, d.method = kindCall, "INVITE"
		a.others--
		a.calls++
	}
	if ev.Time.After(d.end) {
		d.end = ev.Time
	}
	if m.UserAgent != "" {
		d.uas = appendUnique(d.uas, m.UserAgent)
	}
	msg := msgRec{src: ev.Src, dst: ev.Dst, transport: ev.Transport, Message: Message{Frame: ev.Frame, Time: ev.Time,
		Method: m.Method, Status: m.Status, Reason: m.Reason,
		CSeq:   strings.TrimSpace(fmt.Sprintf("%d %s", m.CSeqNum, m.CSeqMethod)),
		HasSDP: m.SDP != nil, Text: a.keepText(m.Text)}}
	var keep bool
	if m.Method != "" {
		keep = a.addRequest(d, ev, &msg)
	} else {
		keep = a.addResponse(d, ev, &msg)
	}
	if !keep {
		return
	}
	if msg.Retransmission {
		d.retrans++
	}
	d.msgTotal++
	if len(d.msgs) < maxMessages {
		d.msgs = append(d.msgs, msg)
	}
	if m.SDP != nil && !msg.Retransmission {
		a.addSDP(d, ev)
	}
}

// addRequest records a request; it returns false for a duplicate packet.
func (a *Analyzer) addRequest(d *dialogState, ev *decode.Event, msg *msgRec) bool {
	m := ev.SIP
	// The hop is part of the key: a copy of the request on another hop
	// (before and after a NAT or an SBC) is another transaction leg, not a
	// retransmission.
	key := txKey{topBranch(m), m.CSeqNum, m.Method, ev.Src, ev.Dst}
	t := d.txs[key]
	if t != nil && t.seen {
		if ev.Time.Sub(t.last) < dupWindow {
			return false
		}
		msg.Retransmission = true
		t.sent++
		t.last = ev.Time
		t.frames = append(t.frames, ev.Frame)
	} else {
		if t == nil {
			t = &tx{key: key, respSeen: map[respKey]time.Time{}}
			d.txs[key] = t
			d.txOrder = append(d.txOrder, t)
		}
		t.method, t.src, t.dst, t.transport = m.Method, ev.Src, ev.Dst, ev.Transport
		t.ruri, t.ua, t.inDialog, t.seen = m.RequestURI, m.UserAgent, m.ToTag != "", true
		t.first, t.last, t.sent = ev.Time, ev.Time, 1
		t.frames = append(t.frames, ev.Frame)
		t.auth = hasHeader(m, "Authorization", "Proxy-Authorization")
		if t.auth {
			d.creds[ev.Src] = true
		}
	}
	if d.firstReq == nil && m.Method != "ACK" {
		d.firstReq = t
		if d.ruri == "" {
			d.ruri = m.RequestURI
		}
		if d.from == "" {
			d.from, d.to = m.From, m.To
		}
	}
	switch {
	case m.Method == "INVITE" && !t.inDialog && d.kind == kindCall:
		d.initial = t // the first INVITE, or its retry with credentials
	case m.Method == "REGISTER" && d.kind == kindRegister:
		d.initial = t
	case d.kind == kindOther && m.Method == d.method:
		d.initial = t
	}
	switch m.Method {
	case "CANCEL":
		if d.answerTime.IsZero() {
			d.cancelled = true
		}
	case "BYE":
		if d.byeTime.IsZero() {
			d.byeTime = ev.Time
		}
	}
	if ev.Transport == "udp" || ev.Transport == "" {
		a.lastReq[[2]netip.AddrPort{ev.Src, ev.Dst}] = reqRef{d, t}
	}
	return true
}

// addResponse records a response; it returns false for a duplicate packet.
func (a *Analyzer) addResponse(d *dialogState, ev *decode.Event, msg *msgRec) bool {
	m := ev.SIP
	key := txKey{topBranch(m), m.CSeqNum, m.CSeqMethod, ev.Dst, ev.Src}
	t := d.txs[key]
	if i := d.initial; t == nil && i != nil && i.dst == ev.Src && i.key.branch == key.branch &&
		i.key.cseq == key.cseq && i.key.method == key.method {
		// The response goes to the port the requester's Via names, not
		// to the one it sent from (RFC 3261 §18.2.2).
		t = i
	}
	if t == nil {
		// The request was sent before the capture started.
		t = &tx{key: key, method: m.CSeqMethod, src: ev.Dst, dst: ev.Src, transport: ev.Transport,
			first: ev.Time, last: ev.Time, respSeen: map[respKey]time.Time{}}
		d.txs[key] = t
		d.txOrder = append(d.txOrder, t)
		switch {
		case t.method == "INVITE" && d.kind == kindCall && d.initial == nil:
			// The INVITE went by before the capture started: its
			// response still gives the call its final status.
			d.initial = t
		case t.method == "REGISTER" && d.kind == kindRegister:
			d.initial = t
		case d.kind == kindOther && t.method == d.method && d.initial == nil:
			d.initial = t
		}
	}
	if ev.Transport == "udp" || ev.Transport == "" {
		// A response refused by the requester's port (its Via names a
		// port nothing listens on) fails the transaction as well.
		a.lastReq[[2]netip.AddrPort{ev.Src, ev.Dst}] = reqRef{d, t}
	}
	rk := respKey{m.Status, m.ToTag}
	if seen, ok := t.respSeen[rk]; ok {
		if ev.Time.Sub(seen) < dupWindow {
			return false
		}
		msg.Retransmission = true
		t.respSeen[rk] = ev.Time
		return true
	}
	t.respSeen[rk] = ev.Time
	t.responses++
	if t.respUA == "" {
		t.respUA = m.UserAgent
	}
	if t.firstResp.IsZero() {
		t.firstResp = ev.Time
	}
	if d.firstResp.IsZero() {
		d.firstResp = ev.Time
	}
	if m.Status >= 200 && (t.final == 0 || (t.final >= 300 && m.Status < 300)) {
		t.final, t.finalReason, t.finalFrame, t.finalTime, t.finalSrc = m.Status, m.Reason, ev.Frame, ev.Time, ev.Src
	}
	if t == d.initial && t.method == "INVITE" && m.Status >= 200 && m.Status < 300 && d.answerTime.IsZero() {
		d.answerTime = ev.Time
	}
	return true
}

func (a *Analyzer) addICMP(ev *decode.Event) {
	ic := ev.ICMP
	if !ic.PortUnreachable {
		return
	}
	ref, ok := a.lastReq[[2]netip.AddrPort{ic.OrigSrc, ic.OrigDst}]
	if !ok {
		return
	}
	if !ref.tx.icmp {
		ref.tx.icmp, ref.tx.icmpFrame = true, ev.Frame
	}
	// The error is a rung of the call's ladder: from the host that
	// refused the datagram (drawn at the port it refused) to the sender.
	from := ev.Src
	if ev.Src.Addr() == ic.OrigDst.Addr() {
		from = ic.OrigDst
	}
	ref.d.msgTotal++
	if len(ref.d.msgs) < maxMessages {
		ref.d.msgs = append(ref.d.msgs, msgRec{src: from, dst: ic.OrigSrc, transport: "icmp",
			Message: Message{Frame: ev.Frame, Time: ev.Time, ICMP: "ICMP port unreachable", CSeq: ref.tx.key.methodCSeq()}})
	}
	if ev.Time.After(ref.d.end) {
		ref.d.end = ev.Time
	}
	if len(a.icmp) < maxEvidenceFrames*10 {
		a.icmp = append(a.icmp, icmpHit{frame: ev.Frame, time: ev.Time, from: ev.Src, d: ref.d, tx: ref.tx, dst: ic.OrigDst})
	}
}

// noResponse reports whether the transaction's request went unanswered:
// retransmitted (UDP) or left for the whole transaction timeout (TCP, TLS)
// with nothing back, and no ICMP error explaining it.
func (t *tx) noResponse(captureEnd time.Time) bool {
	if t == nil || !t.seen || t.responses > 0 || t.icmp || t.method == "ACK" {
		return false
	}
	return t.sent >= 2 || (t.transport != "udp" && captureEnd.Sub(t.first) >= timerB)
}

// roles assigns the PBX, extension and trunk roles.
type roles struct {
	pbx      map[netip.Addr]bool
	sipPorts map[int]bool
	peers    map[string]*peerInfo
	order    []string
}

type peerInfo struct {
	Peer
	extension, trunk string // reasons
	sentInvite       bool
	uas              []string
}

// isPBX reports whether ap, talking to other, is the PBX: it is on one of
// the PBX's addresses and, when both are (traffic on one host), on a SIP
// port while the other is not.
func (r *roles) isPBX(ap, other netip.AddrPort) bool {
	if !r.pbx[ap.Addr().Unmap()] {
		return false
	}
	if !r.pbx[other.Addr().Unmap()] {
		return true
	}
	return r.sipPorts[int(ap.Port())] && !r.sipPorts[int(other.Port())]
}

// peerKey names a peer: by address, or by address and port when it lives
// on one of the PBX's own addresses.
func (r *roles) peerKey(ap netip.AddrPort) string {
	if r.pbx[ap.Addr().Unmap()] {
		return ap.String()
	}
	return ap.Addr().Unmap().String()
}

func (r *roles) peer(ap netip.AddrPort) *peerInfo {
	k := r.peerKey(ap)
	p := r.peers[k]
	if p == nil {
		p = &peerInfo{Peer: Peer{Address: k}}
		r.peers[k] = p
		r.order = append(r.order, k)
	}
	return p
}

// role is the role of ap in a message exchanged with other.
func (r *roles) role(ap, other netip.AddrPort) string {
	if r.isPBX(ap, other) {
		return rolePBX
	}
	if p := r.peers[r.peerKey(ap)]; p != nil {
		return p.Role
	}
	return rolePeer
}

// assignRoles decides who is an extension and who is a trunk:
//
//   - a peer that sends REGISTER to the PBX, or authenticates to it
//     (Authorization or Proxy-Authorization in its requests), is an
//     extension: extensions register and prove their password;
//   - a peer the PBX sends REGISTER to is a trunk (a register-based trunk);
//   - a peer the PBX sends INVITEs to, or that sends INVITEs to the PBX,
//     without ever registering or presenting credentials, is a trunk:
//     trunks are trusted by their IP address;
//   - anything else is a "peer" of unknown role.
//
// A peer at a configured trunk address (Options.Trunks) is a trunk unless
// it registers: the configuration outranks the heuristics.
func assignRoles(dialogs []*dialogState, pbx map[netip.Addr]bool, sipPorts map[int]bool, trunks []netip.Addr) *roles {
	r := &roles{pbx: pbx, sipPorts: sipPorts, peers: map[string]*peerInfo{}}
	for _, d := range dialogs {
		for _, t := range d.txOrder {
			if !t.seen {
				continue
			}
			srcPBX, dstPBX := r.isPBX(t.src, t.dst), r.isPBX(t.dst, t.src)
			switch {
			case !srcPBX && dstPBX:
				p := r.peer(t.src)
				p.uas = appendUnique(p.uas, t.ua)
				switch {
				case t.method == "REGISTER" && p.extension == "":
					p.extension = "registers to the PBX"
				case t.auth && p.extension == "" && !slices.Contains(trunks, t.src.Addr().Unmap()):
					p.extension = "authenticates to the PBX"
				case t.method == "INVITE":
					p.sentInvite = true
				}
			case srcPBX && !dstPBX:
				p := r.peer(t.dst)
				p.uas = appendUnique(p.uas, t.respUA)
				switch {
				case t.method == "REGISTER" && p.trunk == "":
					p.trunk = "the PBX registers to it"
				case t.method == "INVITE":
					p.sentInvite = true
				}
			}
		}
		for _, m := range d.msgs {
			if m.Status > 0 && !r.isPBX(m.src, m.dst) && r.isPBX(m.dst, m.src) {
				_ = r.peer(m.src)
			}
		}
	}
	for _, k := range r.order {
		p := r.peers[k]
		ip, _ := netip.ParseAddr(k)
		if ap, err := netip.ParseAddrPort(k); err == nil {
			ip = ap.Addr()
		}
		switch {
		case p.extension == "registers to the PBX":
			p.Role, p.Reason = roleExtension, p.extension
		case p.trunk == "the PBX registers to it":
			p.Role, p.Reason = roleTrunk, p.trunk
		case slices.Contains(trunks, ip.Unmap()):
			p.Role, p.Reason = roleTrunk, "a configured trunk address"
		case p.extension != "":
			p.Role, p.Reason = roleExtension, p.extension
		case p.trunk != "":
			p.Role, p.Reason = roleTrunk, p.trunk
		case p.sentInvite && r.pbx[ip.Unmap()]:
			// Another program on the PBX's own host (loopback, a local
			// test tool): IP trust says nothing about what it is.
			p.Role, p.Reason = rolePeer, "runs on the PBX's own address and neither registers nor authenticates: not placed"
		case p.sentInvite && phoneAgent(p.uas) != "":
			p.Role, p.Reason = roleExtension, "exchanges calls with the PBX as a phone (User-Agent "+phoneAgent(p.uas)+")"
		case p.sentInvite:
			p.Role, p.Reason = roleTrunk, "exchanges calls with the PBX without registering or presenting credentials"
		default:
			p.Role, p.Reason = rolePeer, "neither registers nor exchanges calls with the PBX"
		}
		p.UserAgents = p.uas
	}
	return r
}

func direction(src, dst string) string {
	switch {
	case src == roleExtension && dst == rolePBX:
		return dirExtToPBX
	case src == rolePBX && dst == roleExtension:
		return dirPBXToExt
	case src == rolePBX && dst == roleTrunk:
		return dirPBXToTrunk
	case src == roleTrunk && dst == rolePBX:
		return dirTrunkToPBX
	}
	return dirUnknown
}

func (r *roles) endpoint(ap, other netip.AddrPort, transport string) Endpoint {
	e := Endpoint{Port: int(ap.Port()), Transport: transport, Role: r.role(ap, other)}
	if ap.Addr().IsValid() {
		e.IP = ap.Addr().Unmap().String()
	}
	return e
}

func msSince(from, to time.Time) int64 {
	if from.IsZero() || to.IsZero() {
		return -1
	}
	return max(to.Sub(from).Milliseconds(), 0)
}

// build turns a dialog's state into the report's Dialog.
func (d *dialogState) build(r *roles, captureEnd time.Time) Dialog {
	out := Dialog{CallID: d.callID, Method: d.method, From: d.from, To: d.to, UserAgents: d.uas,
		Start: d.start, End: d.end, RequestURI: d.ruri, Retransmissions: d.retrans,
		FirstResponseMs: -1, AnswerMs: -1, Cancelled: d.cancelled}
	out.Direction = direction(r.role(d.caller, d.callee), r.role(d.callee, d.caller))
	out.RoleRule = r.roleRule(d.caller, d.callee)
	if d.firstReq != nil && d.firstReq.seen {
		out.FirstResponseMs = msSince(d.firstReq.first, d.firstResp)
		if !d.answerTime.IsZero() {
			out.AnswerMs = msSince(d.firstReq.first, d.answerTime)
		}
	}
	if t := d.initial; t != nil {
		out.FinalStatus, out.FinalReason = t.final, t.finalReason
		if t.final > 0 {
			out.FinalBy = r.role(t.finalSrc, t.src)
		}
		out.NoResponse = t.noResponse(captureEnd)
		if t.icmp && t.final == 0 {
			out.ICMPError = "ICMP port unreachable"
		}
		if d.kind == kindCall {
			out.Answered = t.final >= 200 && t.final < 300
		}
	}
	out.Messages = make([]Message, len(d.msgs))
	for i, m := range d.msgs {
		mm := m.Message
		mm.Src = r.endpoint(m.src, m.dst, m.transport)
		mm.Dst = r.endpoint(m.dst, m.src, m.transport)
		out.Messages[i] = mm
	}
	for _, s := range d.sdp {
		sd := s.SDP
		sd.From = r.endpoint(s.src, s.dst, "")
		out.SDP = append(out.SDP, sd)
	}
	return out
}

// userOf returns the user part of a SIP URI or a name-addr header value.
func userOf(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	v = strings.TrimSpace(v)
	for _, p := range []string{"sips:", "sip:", "tel:"} {
		if len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
			v = v[len(p):]
			break
		}
	}
	if i := strings.IndexAny(v, ";?"); i >= 0 && !strings.Contains(v[:i], "@") {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[:i]
	} else if strings.HasPrefix(v, "+") || isDigits(v) {
		// tel: URI or bare number
	} else {
		return ""
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return v
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// sortedPeers returns the peers in a stable order.
func (r *roles) sortedPeers() []Peer {
	out := make([]Peer, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.peers[k].Peer)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func codeText(code int, reason string) string {
	if reason == "" {
		return strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + reason
}

// roleRule says which rule gave the parties of a dialog their roles: the
// rule of the party that is not the PBX.
func (r *roles) roleRule(caller, callee netip.AddrPort) string {
	if len(r.pbx) == 0 {
		return "the PBX could not be placed"
	}
	for _, pair := range [][2]netip.AddrPort{{caller, callee}, {callee, caller}} {
		if r.isPBX(pair[0], pair[1]) {
			continue
		}
		if p := r.peers[r.peerKey(pair[0])]; p != nil {
			return fmt.Sprintf("%s %s: %s", p.Address, p.Role, p.Reason)
		}
	}
	return ""
}

func (k txKey) methodCSeq() string { return fmt.Sprintf("%d %s", k.cseq, k.method) }

// Bounds of the message texts kept for the report.
const (
	maxMessageText = 8 << 10
	maxTextTotal   = 32 << 20
)

// keepText returns the text of a message for the report, cut at
// maxMessageText, while the total stays under maxTextTotal.
func (a *Analyzer) keepText(t string) string {
	if len(t) > maxMessageText {
		t = t[:maxMessageText]
	}
	if a.textKept+len(t) > maxTextTotal {
		a.textCut++
		return ""
	}
	a.textKept += len(t)
	return strings.Clone(t)
}
