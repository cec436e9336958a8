package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/guide"
)

// failGroup collects calls or registrations that failed the same way.
type failGroup struct {
	kind    int
	status  int
	reason  string
	by      string
	dir     string
	dialogs []*Dialog
	states  []*dialogState
	relayed []*Dialog // the legs on which the PBX passed the error back
	frames  []int
}

// benignStatus tells final statuses that are not failures of the system:
// a cancelled call's 487 and the callee's own busy or decline.
func benignStatus(status int, cancelled bool) bool {
	switch status {
	case 487:
		return cancelled
	case 486, 600, 603:
		return true
	}
	return false
}

// linkLegs pairs each call the PBX received with the call it placed for it
// (the PBX is a back-to-back user agent: the extension's leg and the trunk's
// leg have different Call-IDs). A leg placed by the PBX belongs to a
// received call when it starts while that call is still unanswered or
// ringing; the same dialled number wins over the nearest start.
func linkLegs(calls []Dialog, states []*dialogState) map[*Dialog]*Dialog {
	in, out := []int{}, []int{}
	for i := range calls {
		switch calls[i].Direction {
		case dirExtToPBX, dirTrunkToPBX:
			in = append(in, i)
		case dirPBXToExt, dirPBXToTrunk:
			out = append(out, i)
		}
	}
	used := map[int]bool{}
	link := map[*Dialog]*Dialog{}
	for _, i := range in {
		d := &calls[i]
		st := states[i]
		until := d.End
		if !st.answerTime.IsZero() {
			until = st.answerTime
		} else if st.initial != nil && !st.initial.finalTime.IsZero() {
			until = st.initial.finalTime
		}
		user := userOf(d.RequestURI)
		best, bestScore := -1, time.Duration(1<<62)
		for _, j := range out {
			o := &calls[j]
			if used[j] || o.Start.Before(d.Start) || o.Start.After(until) {
				continue
			}
			score := o.Start.Sub(d.Start)
			if u := userOf(o.RequestURI); user != "" && u != "" && (strings.HasSuffix(u, user) || strings.HasSuffix(user, u)) {
				score -= time.Hour
			}
			if score < bestScore {
				best, bestScore = j, score
			}
		}
		if best >= 0 {
			used[best] = true
			o := &calls[best]
			d.Related = appendUnique(d.Related, o.CallID)
			o.Related = appendUnique(o.Related, d.CallID)
			link[d] = o
		}
	}
	return link
}

func legFailed(d *Dialog) bool {
	return !d.Answered && (d.NoResponse || (d.FinalStatus >= 300 && !benignStatus(d.FinalStatus, d.Cancelled)))
}

// failureFindings reports failed calls and registrations, grouped by code,
// sender and direction.
func (a *Analyzer) failureFindings(rep *Report, callStates, regStates []*dialogState, link map[*Dialog]*Dialog) []Finding {
	groups := map[string]*failGroup{}
	var order []string
	add := func(kind int, d *Dialog, st *dialogState, relayedBy *Dialog) {
		key := fmt.Sprint(kind, d.FinalStatus, d.FinalBy, d.Direction)
		g := groups[key]
		if g == nil {
			g = &failGroup{kind: kind, status: d.FinalStatus, reason: d.FinalReason, by: d.FinalBy, dir: d.Direction}
			groups[key] = g
			order = append(order, key)
		}
		g.dialogs = append(g.dialogs, d)
		g.states = append(g.states, st)
		if st.initial != nil {
			g.frames = appendFrames(g.frames, st.initial.frames...)
			g.frames = appendFrames(g.frames, st.initial.finalFrame)
		}
		if relayedBy != nil {
			g.relayed = append(g.relayed, relayedBy)
			if rst := a.dialogs[relayedBy.CallID]; rst != nil && rst.initial != nil {
				g.frames = appendFrames(g.frames, rst.initial.finalFrame)
			}
		}
	}
	relayed := map[*Dialog]bool{}
	for in, out := range link {
		if legFailed(in) && legFailed(out) && in.FinalBy == rolePBX {
			relayed[in] = true
		}
	}
	for i := range rep.Calls {
		d := &rep.Calls[i]
		if d.Answered || d.FinalStatus < 300 || benignStatus(d.FinalStatus, d.Cancelled) || relayed[d] {
			continue
		}
		var rel *Dialog
		for in, out := range link {
			if out == d && relayed[in] {
				rel = in
			}
		}
		add(kindCall, d, callStates[i], rel)
	}
	for i := range rep.Registrations {
		d := &rep.Registrations[i]
		st := regStates[i]
		if d.FinalStatus < 300 {
			continue
		}
		// A challenge answered after the capture ended is not a failure.
		if (d.FinalStatus == 401 || d.FinalStatus == 407) && st.initial != nil && !st.initial.auth &&
			a.captureEnd().Sub(st.initial.finalTime) < 5*time.Second {
			continue
		}
		add(kindRegister, d, st, nil)
	}
	var out []Finding
	for _, k := range order {
		out = append(out, a.failureFinding(groups[k]))
	}
	// Busy and declined calls are the callee's choice: one info line.
	var busy []*Dialog
	for i := range rep.Calls {
		d := &rep.Calls[i]
		if !d.Answered && (d.FinalStatus == 486 || d.FinalStatus == 600 || d.FinalStatus == 603) {
			busy = append(busy, d)
		}
	}
	if len(busy) > 0 {
		f := Finding{Severity: Info, Code: "callee-busy",
			Title:  fmt.Sprintf("%s ended with busy or declined (486/600/603)", plural(len(busy), "call")),
			Detail: "The callee (or the callee's phone) answered busy or declined the call: not a fault of the PBX or the trunk."}
		for _, d := range busy {
			f.CallIDs = appendUnique(f.CallIDs, d.CallID)
			if st := a.dialogs[d.CallID]; st != nil && st.initial != nil {
				f.Frames = appendFrames(f.Frames, st.initial.finalFrame)
			}
		}
		out = append(out, f)
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func roleName(role string) string {
	switch role {
	case rolePBX:
		return "the PBX"
	case roleTrunk:
		return "the trunk"
	case roleExtension:
		return "the extension"
	case "":
		return "nobody"
	}
	return "the far end"
}

// internationalPrefix reports whether a dialled number carries an
// international prefix: "+", "00", or 11 digits or more (longer than the
// national numbers of most countries, so probably with a country code).
func internationalPrefix(num string) (bool, string) {
	switch {
	case strings.HasPrefix(num, "+"):
		return true, "starts with +"
	case strings.HasPrefix(num, "00") && len(num) > 4 && isDigits(num):
		return true, "starts with 00"
	case isDigits(num) && len(num) >= 11:
		return true, fmt.Sprintf("has %d digits", len(num))
	}
	return false, ""
}

func (a *Analyzer) failureFinding(g *failGroup) Finding {
	f := Finding{Severity: Warning, Frames: g.frames}
	for _, d := range g.dialogs {
		f.CallIDs = appendUnique(f.CallIDs, d.CallID)
	}
	for _, d := range g.relayed {
		f.CallIDs = appendUnique(f.CallIDs, d.CallID)
	}
	if len(f.CallIDs) == 1 {
		f.CallID = f.CallIDs[0]
	}
	code := codeText(g.status, g.reason)
	by := roleName(g.by)
	users := map[string]bool{}
	var dialled []string
	for _, d := range g.dialogs {
		if u := userOf(d.RequestURI); u != "" && !users[u] {
			users[u] = true
			dialled = append(dialled, u)
		}
	}
	what := "call"
	if g.kind == kindRegister {
		what = "registration"
	}
	f.Title = fmt.Sprintf("%s failed with %s from %s", plural(len(g.dialogs), what), code, by)
	if g.dir != dirUnknown {
		f.Title += " (" + g.dir + ")"
	}
	var b strings.Builder
	if g.kind == kindRegister {
		f.Code = fmt.Sprintf("register-%d", g.status)
		a.registerAdvice(&f, &b, g)
		f.Detail = strings.TrimSpace(b.String())
		return f
	}
	f.Code = fmt.Sprintf("sip-%d", g.status)
	if len(dialled) > 0 {
		fmt.Fprintf(&b, "Dialled: %s. ", strings.Join(firstN(dialled, 10), ", "))
	}
	// The guide's first question: did the error come from the PBX or
	// from the trunk?
	fromTrunk := g.by == roleTrunk
	switch {
	case len(g.relayed) > 0:
		fmt.Fprintf(&b, "The error came from %s: the PBX placed the call on to %s, received %s there and passed it back to the caller (%s). ",
			by, by, code, strings.Join(callIDs(g.relayed, 5), ", "))
	case g.by == rolePBX:
		other := "no call from the PBX onwards was seen in the capture for it, so it most likely failed within the PBX"
		fmt.Fprintf(&b, "The PBX itself answered %s: %s. ", code, other)
	case fromTrunk:
		fmt.Fprintf(&b, "The trunk answered %s to the PBX: the error comes from the trunk, not from the PBX. ", code)
	default:
		fmt.Fprintf(&b, "%s answered %s. ", upperFirst(by), code)
	}
	pbxSide := g.by == rolePBX && len(g.relayed) == 0
	e := guide.ForStatus(g.status)
	side := guide.Trunk
	if pbxSide {
		side = guide.PBX
	}
	causes := e.CausesFrom(side)
	f.Remedy = remediesFor(e, side)
	switch {
	case g.status == 403 && pbxSide:
		noteInternational(&b, dialled)
	case (g.status == 401 || g.status == 407) && pbxSide && (g.dir == dirTrunkToPBX || g.dir == dirUnknown):
		noteDIDPool(&b, dialled)
		if g.dir == dirUnknown {
			b.WriteString("If the caller is a phone rather than a trunk, its credentials were not accepted. ")
		}
	case (g.status == 401 || g.status == 407) && pbxSide:
		causes = []string{"the caller did not answer the PBX's authentication challenge with valid credentials"}
		f.Remedy = []string{"Check the extension's authentication name and password on the phone or app."}
	case g.status == 487:
		causes = []string{"the request was terminated without a CANCEL from the caller in the capture"}
	case g.status < 400:
		f.Severity = Info
	}
	if !e.Known() && len(e.Causes) > 0 {
		causes = []string{fmt.Sprintf("%s: %s", strings.ToLower(e.Title), byWhom(e, by))}
	}
	if len(causes) > 0 {
		fmt.Fprintf(&b, "Possible causes (PortSIP troubleshooting guide): %s.", strings.Join(causes, "; "))
	}
	f.Detail = strings.TrimSpace(b.String())
	f.Remedy = append([]string{guide.RemedyCDR}, f.Remedy...)
	return f
}

// remediesFor picks the guide's remedies for side: the PBX's own for a
// PBX-side cause, the trunk's contact and caller-ID advice otherwise.
func remediesFor(e guide.Entry, side guide.Side) []string {
	var out []string
	for _, r := range e.Remedies {
		trunkish := r == guide.RemedyContactTrunk || r == guide.RemedyCallerID
		if (side == guide.Trunk) == trunkish || len(e.Remedies) == 1 {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return e.Remedies
	}
	return out
}

func byWhom(e guide.Entry, by string) string {
	return strings.Replace(e.Causes[0].Text, "the sender", by, 1)
}

// noteInternational says when a refused number looks international.
func noteInternational(b *strings.Builder, dialled []string) {
	for _, n := range dialled {
		if ok, why := internationalPrefix(n); ok && (strings.HasPrefix(n, "+") || strings.HasPrefix(n, "00")) {
			fmt.Fprintf(b, "The dialled number %s %s: the PBX treats it as an international call (also any number beginning with the International Code of Advanced > Codes and E164 > E164). ", n, why)
			return
		}
	}
}

// noteDIDPool says when a number from a trunk probably lacks from the DID
// pool because of its country code.
func noteDIDPool(b *strings.Builder, dialled []string) {
	for _, n := range dialled {
		if ok, why := internationalPrefix(n); ok {
			digits := strings.TrimPrefix(strings.TrimPrefix(n, "+"), "00")
			fmt.Fprintf(b, "The dialled number %s %s: if the DID pool was set up without the country code, the number is outside it; configure the pool as %s (without '+'). ", n, why, digits)
			return
		}
	}
}

func (a *Analyzer) registerAdvice(f *Finding, b *strings.Builder, g *failGroup) {
	var users []string
	for _, d := range g.dialogs {
		users = appendUnique(users, userOf(d.To))
	}
	if len(users) > 0 {
		fmt.Fprintf(b, "Accounts: %s. ", strings.Join(firstN(users, 10), ", "))
	}
	code := codeText(g.status, g.reason)
	switch {
	case g.status == 401 || g.status == 407 || g.status == 403:
		retried := false
		for _, st := range g.states {
			if st.initial != nil && st.initial.auth {
				retried = true
			}
		}
		if retried {
			fmt.Fprintf(b, "%s refused the credentials (%s after a request with credentials). ", upperFirst(roleName(g.by)), code)
		} else {
			fmt.Fprintf(b, "%s answered %s and the registration never went further. ", upperFirst(roleName(g.by)), code)
		}
		if g.dir == dirPBXToTrunk {
			f.Remedy = []string{"Check the trunk's authentication name and password in the PBX's trunk settings.", guide.RemedyContactTrunk}
		} else {
			f.Remedy = []string{"Check the extension's authentication name and password on the phone or app. The PBX blocks an IP address for an hour after 50 failed SIP authentications within 10 seconds: remove it from the IP Blacklist once the password is fixed."}
		}
	case g.status == 404:
		fmt.Fprintf(b, "%s does not know the account (%s). ", upperFirst(roleName(g.by)), code)
		f.Remedy = []string{"Check the account's user name and the SIP domain configured on the phone or in the trunk."}
	default:
		fmt.Fprintf(b, "%s answered %s. ", upperFirst(roleName(g.by)), code)
		if g.by == roleTrunk {
			f.Remedy = []string{guide.RemedyContactTrunk}
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}

func callIDs(ds []*Dialog, n int) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.CallID)
	}
	return firstN(out, n)
}

// noResponseFindings reports requests that were retransmitted without any
// answer, grouped by destination.
func (a *Analyzer) noResponseFindings(r *roles) []Finding {
	type group struct {
		dst     netip.AddrPort
		role    string
		methods map[string]int
		ids     []string
		frames  []int
		retrans int
		uas     []string
		src     netip.AddrPort
	}
	groups := map[string]*group{}
	var order []string
	end := a.captureEnd()
	for _, d := range a.order {
		for _, t := range d.txOrder {
			if !t.noResponse(end) {
				continue
			}
			k := r.peerKey(t.dst)
			g := groups[k]
			if g == nil {
				g = &group{dst: t.dst, role: r.role(t.dst, t.src), methods: map[string]int{}, src: t.src}
				groups[k] = g
				order = append(order, k)
			}
			g.methods[t.method]++
			g.ids = appendUnique(g.ids, d.callID)
			g.frames = appendFrames(g.frames, t.frames...)
			g.retrans += t.sent - 1
			g.uas = appendUnique(g.uas, t.ua)
		}
	}
	var out []Finding
	var probes []*group
	for _, k := range order {
		g := groups[k]
		if g.role == rolePeer && len(g.methods) == 1 && g.methods["OPTIONS"] > 0 {
			// OPTIONS to addresses of no known role: probes or
			// keep-alives to hosts that are gone, grouped below.
			probes = append(probes, g)
			continue
		}
		var ms []string
		for m, n := range g.methods {
			ms = append(ms, fmt.Sprintf("%d %s", n, m))
		}
		slices.Sort(ms)
		f := Finding{Severity: Warning, Code: "no-response", CallIDs: g.ids, Frames: g.frames}
		if len(g.ids) == 1 {
			f.CallID = g.ids[0]
		}
		who := roleName(g.role)
		f.Title = fmt.Sprintf("No response from %s %s to %s", who, g.dst, strings.Join(ms, ", "))
		var b strings.Builder
		fmt.Fprintf(&b, "%s sent %s to %s (%s retransmissions) and nothing came back: not even a provisional response or an ICMP error. ",
			upperFirst(roleName(r.role(g.src, g.dst))), strings.Join(ms, ", "), g.dst, fmt.Sprint(g.retrans))
		portsip := false
		for _, ua := range g.uas {
			if strings.Contains(strings.ToLower(ua), "portsip") {
				portsip = true
			}
		}
		switch g.role {
		case roleTrunk, rolePeer:
			if g.role == roleTrunk {
				f.Severity = Critical
			}
			f.Remedy = []string{guide.RemedyWhitelist}
			if portsip {
				fmt.Fprintf(&b, "The requests carry User-Agent %q: some trunks silently drop messages from PortSIP. ", strings.Join(g.uas, ", "))
				f.Remedy = append(f.Remedy, guide.RemedyUserAgent)
			}
			f.Remedy = append(f.Remedy, "Check that the trunk's address and port in the PBX are right and that no firewall drops the traffic.")
		case rolePBX:
			f.Severity = Critical
			b.WriteString("The PBX did not answer: it may be down, not listening on this port, or the caller's IP address may be blocked. ")
			f.Remedy = []string{"Check that the PBX is running and listening on this port (pbxagent status).",
				"Check the PBX's IP Blacklist: 50 failed SIP authentications within 10 seconds block the source IP for an hour.",
				"Check firewalls between the caller and the PBX."}
		case roleExtension:
			b.WriteString("The phone or app did not answer: it may be offline, or a NAT binding on its side expired. ")
			f.Remedy = []string{"Check that the phone is online; shorten its registration or keep-alive interval if it sits behind NAT."}
		}
		f.Detail = strings.TrimSpace(b.String())
		out = append(out, f)
	}
	if len(probes) > 0 {
		f := Finding{Severity: Info, Code: "options-unanswered"}
		var addrs []string
		for _, g := range probes {
			addrs = append(addrs, g.dst.String())
			f.CallIDs = append(f.CallIDs, g.ids...)
			f.Frames = appendFrames(f.Frames, g.frames...)
		}
		f.Title = fmt.Sprintf("OPTIONS to %d addresses went unanswered", len(probes))
		if len(probes) == 1 {
			f.Title = "OPTIONS to 1 address went unanswered"
		}
		f.Detail = "No response to OPTIONS from " + strings.Join(firstN(addrs, 10), ", ") +
			": keep-alives or probes to hosts that are gone or drop them. No call or registration to these addresses was seen."
		out = append(out, f)
	}
	return out
}

// icmpFindings reports SIP messages answered with ICMP port unreachable.
func (a *Analyzer) icmpFindings(r *roles) []Finding {
	type group struct {
		dst    netip.AddrPort
		src    netip.AddrPort
		ids    []string
		frames []int
		n      int
	}
	groups := map[netip.AddrPort]*group{}
	var order []netip.AddrPort
	for _, h := range a.icmp {
		g := groups[h.dst]
		if g == nil {
			g = &group{dst: h.dst, src: h.tx.src}
			groups[h.dst] = g
			order = append(order, h.dst)
		}
		g.n++
		g.ids = appendUnique(g.ids, h.d.callID)
		g.frames = appendFrames(g.frames, h.tx.frames...)
		g.frames = appendFrames(g.frames, h.frame)
	}
	var out []Finding
	for _, dst := range order {
		g := groups[dst]
		role := r.role(g.dst, g.src)
		f := Finding{Severity: Warning, Code: "icmp-port-unreachable", CallIDs: g.ids, Frames: g.frames,
			Title: fmt.Sprintf("Nothing listens at %s (%s): SIP answered with ICMP port unreachable", g.dst, roleName(role)),
			Detail: fmt.Sprintf("%s ICMP port-unreachable errors came back for SIP messages sent to %s: no program listens on that UDP port at the destination.",
				fmt.Sprint(g.n), g.dst)}
		if len(g.ids) == 1 {
			f.CallID = g.ids[0]
		}
		if role == roleTrunk || role == rolePBX {
			f.Severity = Critical
		}
		f.Remedy = []string{"Check the destination's address and port (the trunk's or phone's SIP port) and that its SIP service is running."}
		out = append(out, f)
	}
	return out
}

// mediaFindings judges the audio of every answered call and every stream.
func (a *Analyzer) mediaFindings(rep *Report, callStates []*dialogState, r *roles) []Finding {
	var out []Finding
	groups, silent := a.groupMissingAudio(rep, callStates)
	for _, g := range groups {
		out = append(out, a.missingAudioFinding(g, r))
	}
	if len(silent) > 0 {
		out = append(out, a.noRTPFinding(silent))
	}
	out = append(out, a.privateSDPFindings(rep, callStates, r)...)
	out = append(out, a.streamFindings(rep, r)...)
	return out
}

// audioGroup is the answered calls that miss audio the same way: same
// finding code, direction and missing sides.
type audioGroup struct {
	code    string
	dialogs []*Dialog
	states  []*dialogState
	missing []int
}

// missingAudio lists the sides of a call that announced audio and received
// no RTP.
func (a *Analyzer) missingAudio(st *dialogState) []int {
	var missing []int
	for p := range 2 {
		if a.silentParty(st, p) {
			missing = append(missing, p)
		}
	}
	return missing
}

// groupMissingAudio groups the answered calls, long enough to judge, that
// miss audio on one or both sides, in order of first appearance. When the
// capture holds no RTP at all those calls are returned as silent instead.
func (a *Analyzer) groupMissingAudio(rep *Report, callStates []*dialogState) (groups []*audioGroup, silent []*Dialog) {
	end := a.captureEnd()
	anyRTP := len(a.streamOrd) > 0
	byKey := map[string]*audioGroup{}
	for i := range rep.Calls {
		d, st := &rep.Calls[i], callStates[i]
		if !d.Answered || st.mediaWindow(end) < minMediaWindow {
			continue
		}
		missing := a.missingAudio(st)
		if len(missing) == 0 {
			continue
		}
		notCaptured := a.audioNotCaptured(st, missing)
		if !anyRTP && !notCaptured {
			silent = append(silent, d)
			continue
		}
		code := "one-way-audio"
		if len(missing) == 2 {
			code = "no-audio"
		}
		if notCaptured {
			code = codeNotCaptured
		}
		key := code + d.Direction + fmt.Sprint(missing)
		g := byKey[key]
		if g == nil {
			g = &audioGroup{code: code}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.dialogs = append(g.dialogs, d)
		g.states = append(g.states, st)
		g.missing = missing
	}
	return groups, silent
}

// missingAudioFinding states one group of calls without audio in one or
// both directions.
func (a *Analyzer) missingAudioFinding(g *audioGroup, r *roles) Finding {
	if g.code == codeNotCaptured {
		return a.notCapturedFinding(g)
	}
	f := Finding{Severity: Critical, Code: g.code}
	for i, d := range g.dialogs {
		f.CallIDs = appendUnique(f.CallIDs, d.CallID)
		for _, s := range g.states[i].sdp {
			f.Frames = appendFrames(f.Frames, s.Frame)
		}
	}
	if len(f.CallIDs) == 1 {
		f.CallID = f.CallIDs[0]
	}
	if g.code == "no-audio" {
		f.Title = fmt.Sprintf("No audio in either direction in %s (%s)", plural(len(g.dialogs), "answered call"), g.dialogs[0].Direction)
		f.Detail = "The call was answered and both sides announced audio in their SDP, but no audio RTP was captured in either direction."
	} else {
		f.Title, f.Detail = oneWayAudioText(g, r)
	}
	trunkCall := g.dialogs[0].Direction == dirPBXToTrunk || g.dialogs[0].Direction == dirTrunkToPBX
	if trunkCall {
		f.Remedy = []string{guide.RemedyPrivateIP, guide.RemedyRTPWhitelist, a.cloudRTPRemedy()}
	} else {
		f.Remedy = []string{"Check NAT on the phone's side (its SDP must carry an address the PBX can reach, or the PBX must send media where it receives it from).",
			a.cloudRTPRemedy()}
	}
	return f
}

// oneWayAudioText names who receives no audio from whom in a group of
// one-way-audio calls, and why when the SDP shows it.
func oneWayAudioText(g *audioGroup, r *roles) (title, detail string) {
	st := g.states[0]
	party := func(p int) (string, netip.AddrPort) {
		self, other := st.partyAddr(p)
		return roleName(r.role(self, other)), self
	}
	p := g.missing[0]
	rx, rxAddr := party(p)
	tx, txAddr := party(1 - p)
	if rx == tx {
		// Same role on both sides (unplaced PBX, two peers): name them by
		// address alone, never "the far end ... the far end".
		rx, tx = rxAddr.Addr().String(), txAddr.Addr().String()
	}
	sdp := st.latestSDP(p)
	title = fmt.Sprintf("One-way audio in %s: %s receives no audio from %s", plural(len(g.dialogs), "answered call"), rx, tx)
	var b strings.Builder
	fmt.Fprintf(&b, "%s sent RTP to %s, but no RTP came back to the address %s announced in its SDP (%s:%d). ", upperFirst(rx), tx, rx, sdp.Addr, sdp.Port)
	if sdp.Private && addrIsPublic(sdp.dst.Addr()) {
		fmt.Fprintf(&b, "That address is private and was sent to a public address (%s): the far end cannot reach it. ", sdp.dst.Addr())
	}
	return title, strings.TrimSpace(b.String())
}

// noRTPFinding states answered calls in a capture without any RTP.
func (a *Analyzer) noRTPFinding(silent []*Dialog) Finding {
	f := Finding{Severity: Warning, Code: "no-rtp-captured",
		Title: fmt.Sprintf("No RTP at all in the capture although %s answered", plural(len(silent), "call was")),
		Detail: "The capture holds no RTP packet. Either no audio flowed at all, or the capture did not include the media " +
			"(a capture filter without the RTP port range, or a capture taken elsewhere)."}
	if len(silent) > 1 {
		f.Title = fmt.Sprintf("No RTP at all in the capture although %d calls were answered", len(silent))
	}
	for _, d := range silent {
		f.CallIDs = appendUnique(f.CallIDs, d.CallID)
	}
	f.Remedy = []string{fmt.Sprintf("Capture on the PBX with its RTP range (UDP %d-%d) included, e.g. pbxagent bundle --duration 60s, and reproduce the call.", a.opt.RTPLow, a.opt.RTPHigh),
		guide.RemedyPrivateIP, guide.RemedyRTPWhitelist}
	return f
}

// privateSDPFindings reports SDP from the PBX carrying a private address
// sent to a public address.
func (a *Analyzer) privateSDPFindings(rep *Report, callStates []*dialogState, r *roles) []Finding {
	type group struct {
		dst     netip.Addr
		addrs   []string
		ids     []string
		frames  []int
		flowed  bool
		silent  bool
		trunked bool
	}
	groups := map[netip.Addr]*group{}
	var order []netip.Addr
	for i, st := range callStates {
		for _, s := range st.sdp {
			if !s.Private || !addrIsPublic(s.dst.Addr()) || r.role(s.src, s.dst) != rolePBX {
				continue
			}
			dst := s.dst.Addr().Unmap()
			g := groups[dst]
			if g == nil {
				g = &group{dst: dst}
				groups[dst] = g
				order = append(order, dst)
			}
			g.addrs = appendUnique(g.addrs, s.Addr)
			g.ids = appendUnique(g.ids, st.callID)
			g.frames = appendFrames(g.frames, s.Frame)
			if st.rtpTo[s.party] > 0 {
				g.flowed = true
			} else if rep.Calls[i].Answered {
				g.silent = true
			}
			if r.role(s.dst, s.src) == roleTrunk {
				g.trunked = true
			}
		}
	}
	var out []Finding
	for _, dst := range order {
		g := groups[dst]
		who := "the peer"
		if g.trunked {
			who = "the trunk"
		}
		f := Finding{Severity: Warning, Code: "private-sdp", CallIDs: g.ids, Frames: g.frames,
			Title: fmt.Sprintf("The PBX announces private media address %s to %s at public address %s", strings.Join(g.addrs, ", "), who, dst)}
		if len(g.ids) == 1 {
			f.CallID = g.ids[0]
		}
		var b strings.Builder
		fmt.Fprintf(&b, "The SDP the PBX sent to %s carries c=%s, an address that is not routed on the Internet: a far end on the public Internet cannot send audio there. ", dst, strings.Join(g.addrs, ", "))
		switch {
		case g.silent:
			b.WriteString("No audio reached the PBX in at least one of these calls. ")
		case g.flowed:
			b.WriteString("Audio still reached the PBX in this capture (the far end reached the private address, or latches onto the source of the PBX's media), so it may be on the same network or a VPN. ")
		}
		f.Detail = strings.TrimSpace(b.String())
		f.Remedy = []string{guide.RemedyPrivateIP}
		out = append(out, f)
	}
	return out
}

// streamFindings reports media from unexpected addresses, loss and jitter.
func (a *Analyzer) streamFindings(rep *Report, r *roles) []Finding {
	var out []Finding
	type unexp struct {
		ids    []string
		srcs   []string
		want   []string
		frames []int
	}
	var u unexp
	var lossWarn, lossInfo, jitter []int
	for i := range rep.Streams {
		s := &rep.Streams[i]
		st := a.streamOrd[i]
		if s.CallID != "" && !s.Expected {
			u.ids = appendUnique(u.ids, s.CallID)
			u.srcs = appendUnique(u.srcs, s.Src.IP)
			for ip := range st.d.announcedIPs(1 - st.toParty) {
				u.want = appendUnique(u.want, ip.String())
			}
			for _, sd := range st.d.sdp {
				u.frames = appendFrames(u.frames, sd.Frame)
			}
		}
		if s.Packets < minStreamPackets || s.Video {
			// Video sends each frame as a burst of packets with one
			// timestamp: its jitter and loss are not judged as speech.
			continue
		}
		switch {
		case s.LossPercent >= a.opt.Quality.LossWarnPercent:
			lossWarn = append(lossWarn, i)
		case s.LossPercent >= a.opt.Quality.LossInfoPercent:
			lossInfo = append(lossInfo, i)
		}
		if s.JitterMs >= a.opt.Quality.JitterWarnMs {
			jitter = append(jitter, i)
		}
	}
	if len(u.ids) > 0 {
		slices.Sort(u.want)
		f := Finding{Severity: Warning, Code: "rtp-unexpected-source", CallIDs: u.ids, Frames: u.frames,
			Title: fmt.Sprintf("RTP arrives from %s, not from the address the SDP announced (%s)", strings.Join(firstN(u.srcs, 5), ", "), strings.Join(firstN(u.want, 5), ", ")),
			Detail: "Media of " + plural(len(u.ids), "call") + " came from an address other than the one its sender's SDP announced: " +
				"a NAT router rewrites the sender's address. Audio then works only if the receiver sends its media back to where it comes from (symmetric RTP); " +
				"otherwise the far end's audio is lost.",
			Remedy: []string{guide.RemedyPrivateIP, guide.RemedyRTPWhitelist}}
		if len(u.ids) == 1 {
			f.CallID = u.ids[0]
		}
		out = append(out, f)
	}
	streamList := func(idx []int) (string, []string) {
		var parts, ids []string
		for _, i := range idx {
			s := &rep.Streams[i]
			parts = append(parts, fmt.Sprintf("%s:%d→%s:%d SSRC %08x %.1f%% lost, jitter %.1f ms", s.Src.IP, s.Src.Port, s.Dst.IP, s.Dst.Port, s.SSRC, s.LossPercent, s.JitterMs))
			ids = appendUnique(ids, s.CallID)
		}
		return strings.Join(firstN(parts, 10), "; "), ids
	}
	worst := func(idx []int, v func(*RTPStream) float64) float64 {
		m := 0.0
		for _, i := range idx {
			m = max(m, v(&rep.Streams[i]))
		}
		return m
	}
	lossRemedy := []string{"Packet loss on the path: check the bandwidth and the links between the PBX and the far end (the capture host's own drops count too: see the capture's kernel drops)."}
	if len(lossWarn) > 0 {
		list, ids := streamList(lossWarn)
		out = append(out, Finding{Severity: Warning, Code: "rtp-loss", CallIDs: nonEmpty(ids),
			Title:  fmt.Sprintf("RTP packet loss up to %.1f%% in %s", worst(lossWarn, func(s *RTPStream) float64 { return s.LossPercent }), plural(len(lossWarn), "stream")),
			Detail: fmt.Sprintf("Loss of %.0f%% or more makes speech choppy. ", a.opt.Quality.LossWarnPercent) + list + ".", Remedy: lossRemedy})
	}
	if len(lossInfo) > 0 {
		list, ids := streamList(lossInfo)
		out = append(out, Finding{Severity: Info, Code: "rtp-loss-minor", CallIDs: nonEmpty(ids),
			Title:  fmt.Sprintf("Minor RTP packet loss (%.0f-%.0f%%) in %s", a.opt.Quality.LossInfoPercent, a.opt.Quality.LossWarnPercent, plural(len(lossInfo), "stream")),
			Detail: list + ".", Remedy: lossRemedy})
	}
	if len(jitter) > 0 {
		list, ids := streamList(jitter)
		out = append(out, Finding{Severity: Warning, Code: "rtp-jitter", CallIDs: nonEmpty(ids),
			Title:  fmt.Sprintf("RTP jitter reaching %.1f ms in %s", worst(jitter, func(s *RTPStream) float64 { return s.JitterMs }), plural(len(jitter), "stream")),
			Detail: fmt.Sprintf("Interarrival jitter (RFC 3550, maximum over the stream) of %.0f ms or more overruns typical jitter buffers. ", a.opt.Quality.JitterWarnMs) + list + ".",
			Remedy: []string{"Check the network path for congestion; prioritise voice traffic (QoS/DSCP EF) on the links."}})
	}
	return out
}

func nonEmpty(s []string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(v string) bool { return v == "" })
}

// tlsFinding says that SIP over TLS could not be read.
func (a *Analyzer) tlsFinding(n int64) []Finding {
	if n == 0 {
		return nil
	}
	return []Finding{{Severity: Info, Code: "tls-opaque", Frames: a.tlsFrames,
		Title:  fmt.Sprintf("%d packets of SIP over TLS or WSS could not be read", n),
		Detail: "Encrypted signalling is opaque to a packet capture: calls and registrations over TLS (port 5061) or WSS (5065) are missing from this analysis.",
		Remedy: []string{"To analyse those calls, reproduce the problem over UDP or TCP, or use the PBX's own SIP trace (Trace Server)."}}}
}

func sevRank(s Severity) int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// rankFindings orders findings critical first, then by how many dialogs
// they concern, then by code.
func rankFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(x, y Finding) int {
		if c := cmp.Compare(sevRank(x.Severity), sevRank(y.Severity)); c != 0 {
			return c
		}
		if c := cmp.Compare(len(y.CallIDs), len(x.CallIDs)); c != 0 {
			return c
		}
		return cmp.Compare(x.Code, y.Code)
	})
}

// cloudRTPRemedy is the guide's cloud firewall advice with the ranges.
func (a *Analyzer) cloudRTPRemedy() string {
	return fmt.Sprintf("On AWS, Azure or Google Cloud, open the RTP port ranges (UDP %d-%d, and the SBC's %d-%d if used) in the network security rules.",
		a.opt.RTPLow, a.opt.RTPHigh, a.opt.SBCRTPLow, a.opt.SBCRTPHigh)
}
