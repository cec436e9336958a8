package analyze

import "strings"

// phoneAgents are User-Agent (or Server) prefixes of desk phones and
// softphones: a peer that exchanges calls with the PBX under one of these
// names is an extension, not a trunk, even when no REGISTER or credentials
// were captured (a call from the PBX to a phone that registered earlier).
// Vendors that also make SBCs or gateways (Cisco, Avaya, AudioCodes) are
// left out on purpose: their User-Agent does not tell a phone.
var phoneAgents = []string{
	"yealink", "grandstream", "polycom", "snom", "fanvil", "htek", "gigaset",
	"panasonic-kx", "linphone", "zoiper", "microsip", "bria", "x-lite",
	"portsip uc", "portsip softphone",
}

// phoneAgent returns the first of uas that names a phone, or "".
func phoneAgent(uas []string) string {
	for _, ua := range uas {
		l := strings.ToLower(strings.TrimSpace(ua))
		for _, p := range phoneAgents {
			if strings.HasPrefix(l, p) {
				return ua
			}
		}
	}
	return ""
}
