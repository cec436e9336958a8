// Package guide holds PortSIP's call troubleshooting guide as data: for each
// SIP status code and for each situation without a code (no answer, one-way
// audio, a private address in the SDP, ...), the possible causes, who
// usually sends it, the remedies and the next check, quoted or condensed
// from the guide ("Troubleshooting Call Issues").
//
// The table lives in table.go so that it can be reviewed against the guide
// line by line. Callers look entries up with ForStatus and ForSituation;
// they never hold their own copy of the guide's text.
package guide

import (
	"fmt"
	"slices"
)

// Side names who sends a status or is at fault in a situation.
type Side string

// The sides of a call through the PBX.
const (
	// PBX is the PortSIP PBX itself.
	PBX Side = "pbx"
	// Trunk is the SIP trunk (carrier) the PBX sends calls to.
	Trunk Side = "trunk"
	// Callee is the called party: an extension's phone or app, or the
	// called PSTN subscriber behind the trunk.
	Callee Side = "callee"
	// Caller is the calling phone, app or trunk.
	Caller Side = "caller"
	// Network is the path between the parties (firewall, NAT, DNS).
	Network Side = "network"
	// Any means the guide names no usual sender.
	Any Side = "any"
)

// Situation names a problem that has no SIP status code of its own.
type Situation string

// The situations the guide covers.
const (
	// NoAnswer: a request got no response at all, not even 100 Trying.
	NoAnswer Situation = "no-answer"
	// OneWayAudio: an answered call with audio in one direction only.
	OneWayAudio Situation = "one-way-audio"
	// NoAudio: an answered call with audio in neither direction.
	NoAudio Situation = "no-audio"
	// PrivateSDP: the PBX announced a private media address to a party on
	// the public Internet.
	PrivateSDP Situation = "private-sdp"
	// LicenceExceeded: 403 because the usage exceeds the PBX licence.
	LicenceExceeded Situation = "licence-exceeded"
	// NoCDR: the PBX has no CDR for a call the caller placed.
	NoCDR Situation = "no-cdr"
	// PortUnreachable: a SIP request was answered with ICMP port unreachable.
	PortUnreachable Situation = "port-unreachable"
	// PoorQuality: audio flowed but with loss or jitter that spoils speech.
	PoorQuality Situation = "poor-quality"
	// PortalLogin500 ... PortalBlocked: web portal login errors (guide §5).
	PortalLogin500  Situation = "portal-500"
	PortalLogin502  Situation = "portal-502"
	PortalBadLogin  Situation = "portal-unauthorized"
	PortalNoTenant  Situation = "portal-no-tenant"
	PortalBlockedIP Situation = "portal-blocked-ip"
)

// Cause is one possible cause and the side where it lies.
type Cause struct {
	Side Side
	Text string
}

// Entry is the guide's knowledge about one status code or situation.
type Entry struct {
	// Key is "sip-<code>" for a status code, else the Situation.
	Key string
	// Status is the SIP status code, 0 for a situation.
	Status int
	// Title is a short name, e.g. "403 Forbidden".
	Title string
	// Meaning says in one sentence what the code or situation means.
	Meaning string
	// UsualSender is who usually sends the code (or is at fault).
	UsualSender Side
	// Causes are the possible causes, each with its side.
	Causes []Cause
	// Remedies are what the administrator can do, in the guide's order.
	Remedies []string
	// NextCheck is the first thing to look at next.
	NextCheck string
	// Section names the guide's section the entry comes from ("" when the
	// entry is general SIP knowledge the guide does not cover).
	Section string
	// Benign marks codes that are not a fault of the system (busy,
	// declined, a cancelled call's 487).
	Benign bool
}

// CausesFrom returns the causes that lie on side s; with no cause on that
// side it returns all causes.
func (e Entry) CausesFrom(s Side) []string {
	var out, all []string
	for _, c := range e.Causes {
		all = append(all, c.Text)
		if c.Side == s {
			out = append(out, c.Text)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// Known reports whether the entry comes from the table rather than from
// the fallback for a status class.
func (e Entry) Known() bool {
	return e.Key != "" && e.Key != fmt.Sprintf("sip-%dxx", e.Status/100)
}

// ForStatus returns the entry for a SIP status code. A code the table does
// not list gets its class's entry (4xx, 5xx, 6xx), with Status set to code.
// Codes below 300 get an empty Entry.
func ForStatus(code int) Entry {
	if code < 300 || code > 699 {
		return Entry{}
	}
	if i := slices.IndexFunc(table, func(e Entry) bool { return e.Status == code }); i >= 0 {
		return clone(table[i])
	}
	key := fmt.Sprintf("sip-%dxx", code/100)
	if i := slices.IndexFunc(table, func(e Entry) bool { return e.Key == key }); i >= 0 {
		e := clone(table[i])
		e.Status = code
		return e
	}
	return Entry{}
}

// ForSituation returns the entry for a situation without a status code.
func ForSituation(s Situation) (Entry, bool) {
	if i := slices.IndexFunc(table, func(e Entry) bool { return e.Key == string(s) }); i >= 0 {
		return clone(table[i]), true
	}
	return Entry{}, false
}

// Entries returns a copy of the whole table, in the guide's order.
func Entries() []Entry {
	out := make([]Entry, len(table))
	for i, e := range table {
		out[i] = clone(e)
	}
	return out
}

// clone copies an entry so that callers cannot change the table.
func clone(e Entry) Entry {
	e.Causes = slices.Clone(e.Causes)
	e.Remedies = slices.Clone(e.Remedies)
	return e
}
