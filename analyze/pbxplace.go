package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// Placing the PBX in a bare capture, from evidence rather than a guess.
// The rules, in order (the first that names exactly one address decides):
//
//  1. the address whose responses carry a Server header, or whose requests
//     a User-Agent header, naming the PortSIP PBX (when several do, the
//     one that sends more than half of those messages);
//  2. the one address that both receives INVITEs and sends INVITEs on to
//     another party (a back-to-back user agent), receiving REGISTERs
//     deciding between several;
//  3. the one address that forwards requests as a proxy: its own Via on
//     top of another, or its own Record-Route on top (deciding between
//     several INVITE relays too);
//  4. the one address that receives REGISTERs.
//
// When no rule names exactly one address the PBX stays unplaced and the
// report says so, rather than calling one side "the PBX".

// maxEvidenceAddrs bounds the addresses evidence is kept for.
const maxEvidenceAddrs = 4096

type pbxEvidence struct {
	portsip     string // the header naming PortSIP PBX
	portsipMsgs int    // messages with such a header
	invitesFrom map[netip.Addr]bool
	invitesTo   map[netip.Addr]bool
	registersIn int
	forwards    int    // requests forwarded under its own Via or Record-Route
	forwardHow  string // "Via" or "Record-Route"
}

// noteEvidence records what a SIP message says about who the PBX is.
func (a *Analyzer) noteEvidence(src, dst netip.Addr, m *decode.SIPMessage) {
	method, server, ua := m.Method, m.Header("Server"), m.UserAgent
	ev := func(ip netip.Addr) *pbxEvidence {
		e := a.evidence[ip]
		if e == nil && len(a.evidence) < maxEvidenceAddrs {
			e = &pbxEvidence{invitesFrom: map[netip.Addr]bool{}, invitesTo: map[netip.Addr]bool{}}
			a.evidence[ip] = e
		}
		return e
	}
	src, dst = src.Unmap(), dst.Unmap()
	if s := portsipPBX(server, ua); s != "" {
		if e := ev(src); e != nil {
			if e.portsip == "" {
				e.portsip = s
			}
			e.portsipMsgs++
		}
	}
	if how := forwardedBy(src, m); how != "" {
		if e := ev(src); e != nil {
			e.forwards++
			e.forwardHow = how
		}
	}
	switch method {
	case "INVITE":
		if e := ev(dst); e != nil && len(e.invitesFrom) < 64 {
			e.invitesFrom[src] = true
		}
		if e := ev(src); e != nil && len(e.invitesTo) < 64 {
			e.invitesTo[dst] = true
		}
	case "REGISTER":
		if e := ev(dst); e != nil {
			e.registersIn++
		}
	}
}

// portsipPBX returns the header value when a Server or User-Agent names
// the PortSIP PBX (not one of PortSIP's phone SDKs).
func portsipPBX(server, ua string) string {
	for _, v := range []string{server, ua} {
		l := strings.ToLower(v)
		if strings.Contains(l, "portsip") && strings.Contains(l, "pbx") {
			return v
		}
	}
	return ""
}

// placePBX applies the rules; it returns the PBX address and the rule, or
// false and why no address could be placed.
func (a *Analyzer) placePBX() (netip.Addr, string, bool) {
	var portsip, relays, forwarders, registrars []netip.Addr
	for ip, e := range a.evidence {
		if e.portsip != "" {
			portsip = append(portsip, ip)
		}
		if relaysInvites(e) {
			relays = append(relays, ip)
		}
		if e.forwards > 0 {
			forwarders = append(forwarders, ip)
		}
		if e.registersIn > 0 {
			registrars = append(registrars, ip)
		}
	}
	for _, s := range [][]netip.Addr{portsip, relays, forwarders, registrars} {
		slices.SortFunc(s, func(x, y netip.Addr) int { return x.Compare(y) })
	}
	if ip, ok := a.dominantPortSIP(portsip); ok {
		e := a.evidence[ip]
		return ip, fmt.Sprintf("it sends %q (%d messages)", e.portsip, e.portsipMsgs), true
	}
	switch {
	case len(relays) == 1:
		return relays[0], "it receives INVITEs and sends INVITEs on to another party (a back-to-back user agent)", true
	case len(relays) > 1:
		if both := intersect(relays, registrars); len(both) == 1 {
			return both[0], "it relays INVITEs and receives REGISTERs", true
		}
		if both := intersect(relays, forwarders); len(both) == 1 {
			return both[0], a.forwardWhy(both[0], "of the addresses relaying INVITEs, it alone "), true
		}
	case len(forwarders) == 1:
		return forwarders[0], a.forwardWhy(forwarders[0], "it "), true
	case len(registrars) == 1:
		return registrars[0], "it receives the REGISTERs", true
	}
	why := "no Server or User-Agent names the PortSIP PBX, and no single address relays INVITEs, forwards requests as a proxy or receives REGISTERs"
	if len(portsip) > 1 {
		why = fmt.Sprintf("%d addresses name the PortSIP PBX (%s)", len(portsip), joinAddrs(portsip))
	} else if len(relays) > 1 {
		why = fmt.Sprintf("%d addresses relay INVITEs (%s)", len(relays), joinAddrs(relays))
	}
	return netip.Addr{}, why, false
}

func (a *Analyzer) forwardWhy(ip netip.Addr, prefix string) string {
	e := a.evidence[ip]
	return fmt.Sprintf("%sforwards requests under its own %s header (a proxy; %s)", prefix, e.forwardHow, plural(e.forwards, "request"))
}

// forwardedBy returns "Via" when the request src sends carries src's own
// Via on top of another (src forwarded it), "Record-Route" when its top
// Record-Route names src, else "".
func forwardedBy(src netip.Addr, m *decode.SIPMessage) string {
	if !m.IsRequest() {
		return ""
	}
	if len(m.Via) >= 2 && viaHost(m.Via[0]) == src {
		return "Via"
	}
	if rr := m.Header("Record-Route"); rr != "" && uriHost(rr) == src {
		return "Record-Route"
	}
	return ""
}

// viaHost is the address of a Via value's sent-by ("SIP/2.0/UDP
// 192.0.2.1:5060;branch=..."), or the zero address for a host name.
func viaHost(via string) netip.Addr {
	_, sentBy, _ := strings.Cut(strings.TrimSpace(via), " ")
	sentBy, _, _ = strings.Cut(strings.TrimSpace(sentBy), ";")
	return hostAddr(sentBy)
}

// uriHost is the address of the first SIP URI in a name-addr list
// ("<sip:192.0.2.1:5060;lr>, ..."), or the zero address.
func uriHost(v string) netip.Addr {
	i := strings.Index(strings.ToLower(v), "sip:")
	if j := strings.Index(strings.ToLower(v), "sips:"); j >= 0 && (i < 0 || j < i) {
		i = j + 1
	}
	if i < 0 {
		return netip.Addr{}
	}
	hp := v[i+len("sip:"):]
	if at := strings.IndexByte(hp, '@'); at >= 0 && at < strings.IndexAny(hp+">", ";>") {
		hp = hp[at+1:]
	}
	if end := strings.IndexAny(hp, ";>,? "); end >= 0 {
		hp = hp[:end]
	}
	return hostAddr(hp)
}

// hostAddr parses "host", "host:port", "[v6]" or "[v6]:port".
func hostAddr(hp string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hp); err == nil {
		return ap.Addr().Unmap()
	}
	if ip, err := netip.ParseAddr(strings.Trim(hp, "[]")); err == nil {
		return ip.Unmap()
	}
	return netip.Addr{}
}

func relaysInvites(e *pbxEvidence) bool {
	for to := range e.invitesTo {
		for from := range e.invitesFrom {
			if to != from {
				return true
			}
		}
	}
	return false
}

func intersect(a, b []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func joinAddrs(ips []netip.Addr) string {
	var s []string
	for _, ip := range firstN2(ips, 5) {
		s = append(s, ip.String())
	}
	return strings.Join(s, ", ")
}

func firstN2(ips []netip.Addr, n int) []netip.Addr {
	if len(ips) > n {
		return ips[:n]
	}
	return ips
}

// dominantPortSIP returns the address sending more than half of the
// messages that name the PortSIP PBX.
func (a *Analyzer) dominantPortSIP(ips []netip.Addr) (netip.Addr, bool) {
	total, best := 0, netip.Addr{}
	for _, ip := range ips {
		n := a.evidence[ip].portsipMsgs
		total += n
		if !best.IsValid() || n > a.evidence[best].portsipMsgs {
			best = ip
		}
	}
	if best.IsValid() && 2*a.evidence[best].portsipMsgs > total {
		return best, true
	}
	return netip.Addr{}, false
}
