package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
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
//  3. the one address that receives REGISTERs.
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
}

// noteEvidence records what a SIP message says about who the PBX is.
func (a *Analyzer) noteEvidence(src, dst netip.Addr, method, server, ua string) {
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
	var portsip, relays, registrars []netip.Addr
	for ip, e := range a.evidence {
		if e.portsip != "" {
			portsip = append(portsip, ip)
		}
		if relaysInvites(e) {
			relays = append(relays, ip)
		}
		if e.registersIn > 0 {
			registrars = append(registrars, ip)
		}
	}
	for _, s := range [][]netip.Addr{portsip, relays, registrars} {
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
	case len(registrars) == 1:
		return registrars[0], "it receives the REGISTERs", true
	}
	why := "no Server or User-Agent names the PortSIP PBX, and no single address relays INVITEs or receives REGISTERs"
	if len(portsip) > 1 {
		why = fmt.Sprintf("%d addresses name the PortSIP PBX (%s)", len(portsip), joinAddrs(portsip))
	} else if len(relays) > 1 {
		why = fmt.Sprintf("%d addresses relay INVITEs (%s)", len(relays), joinAddrs(relays))
	}
	return netip.Addr{}, why, false
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
