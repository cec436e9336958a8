package guide

// Remedies the guide gives in more than one place.
const (
	// RemedyCDR is the guide's first question for a failed outbound call.
	RemedyCDR = "Check whether the error comes from the PBX or from the trunk: in Call Statistics > CDR, double-click the call. " +
		"No record: the PBX never received the call. No pop-up window: the call failed within the PBX. " +
		"A window whose Destination field is not empty: the trunk returned the error."
	RemedyContactTrunk  = "The trunk received the call from the PBX and returned the error: contact the trunk provider's support team."
	RemedyCallerID      = "Trunks usually require the Outbound Caller ID in the From header of the INVITE: configure an Outbound Caller ID on the extension or at the tenant level; some trunks require it to start with '+' (confirm with the trunk provider)."
	RemedyWhitelist     = "Some trunk providers only accept SIP from whitelisted addresses: ask the provider to whitelist the PBX's public IP address."
	RemedyUserAgent     = "Some trunks silently discard every message whose User-Agent contains \"PortSIP\": sign in to the web portal as System Administrator, open Advanced > Settings, change the User-Agent, save and try again."
	RemedyAssociatedIPs = "Ask the trunk provider for every IP address it sends INVITEs from, and add them to the trunk's Associated IP Addresses in the PBX (a call from an address that matches neither the trunk's host nor these addresses gets 407)."
	RemedyVerifyPort    = "Keep the trunk option \"Verify the port when receiving SIP messages from the trunk\" disabled unless required: when enabled, a source port that differs from the configured one gets 407."
	RemedyDIDPool       = "Configure the DID pool with the number format the trunk sends, country code included (e.g. 33620012861 rather than 620012861; no '+' needed)."
	RemedyInboundRules  = "Make sure the dialled number matches at least one inbound rule (\"DID/DDI Number or Number Range\")."
	RemedyPrivateIP     = "In the trunk's Options, \"Use the private IP address to communicate with this trunk\" decides which address the PBX puts into the SDP: keep it disabled for a trunk on the public Internet, enable it only for a trunk in the local network."
	RemedyRTPWhitelist  = "Some trunk providers only send RTP to whitelisted addresses: have the PBX's IP address and the Extended Media Server's IP address (if configured) whitelisted."
	RemedyCloudRTP      = "On AWS, Azure or Google Cloud, open the PBX's RTP port range (UDP) in the network security rules."
	RemedyDisk          = "Check the server's disk space; as a temporary fix delete archived .gz logs in /var/lib/portsip/pbx/log, for a lasting one grow the disk."
)

const (
	secOutbound = "1. Troubleshooting Outbound Calls Issues"
	secInbound  = "2. Troubleshooting Inbound Calls Issues"
	secNoResp   = "3. Troubleshooting No Response from the Trunk"
	secVoice    = "4. Troubleshooting Voice Issues for Trunk Calls"
	secPortal   = "5. Troubleshooting PBX Web Portal Login Failures"
	general     = "" // general SIP knowledge, not from the guide
)

// table is the guide, one entry per status code or situation. Review it
// against the guide's text; keep causes in the guide's order.
var table = []Entry{
	{Key: "sip-402", Status: 402, Title: "402 Payment Required", Section: secOutbound, UsualSender: PBX,
		Meaning:   "The tenant uses online billing and the caller's balance is too low.",
		Causes:    []Cause{{PBX, "the tenant admin enabled online billing and the caller extension does not have enough balance"}},
		Remedies:  []string{"Top up the caller's balance, or review the tenant's online billing."},
		NextCheck: "The caller extension's balance in the tenant's billing settings."},
	{Key: "sip-403", Status: 403, Title: "403 Forbidden", Section: secOutbound, UsualSender: PBX,
		Meaning: "The call was refused: by the PBX for licence, permission, blacklist or call limits, or by the trunk.",
		Causes: []Cause{
			{PBX, "the current usage exceeds the PBX licence"},
			{PBX, "the caller extension lacks call permissions: check its assigned role (a Standard User may not place international calls; a number starting with + or with the International Code of Advanced > Codes and E164 > E164 is international)"},
			{PBX, "the country code is not allowed: Advanced > Codec and E164, tab ALLOWED COUNTRY CODE"},
			{PBX, "the calls established have reached the trunk's maximum call limit"},
			{PBX, "the callee number is in the Number Blacklist (Advanced > Number Blacklist)"},
			{PBX, "the tenant's calls have reached its Maximum Simultaneous Calls"},
			{Trunk, "the trunk received the call from the PBX and returned the error"},
		},
		Remedies: []string{
			"Assign the caller extension a role that allows the call (international calls), allow the country code, check the licence, the trunk's and the tenant's call limits and the Number Blacklist.",
			RemedyContactTrunk, RemedyCallerID},
		NextCheck: "Call Statistics > CDR: does the call's window show a Destination (the trunk refused) or not (the PBX refused)?"},
	{Key: "sip-404", Status: 404, Title: "404 Not Found", Section: secOutbound, UsualSender: PBX,
		Meaning: "The called number was not found, by the PBX or by the trunk.",
		Causes: []Cause{
			{PBX, "the called extension number does not exist"},
			{Trunk, "the called PSTN number does not exist, so the trunk replied 404"},
			{PBX, "the outbound call does not match any outbound rule"},
			{PBX, "the outbound call matched a trunk that is not available"},
			{PBX, "the outbound rule matched, but it is outside office hours or a holiday (the Office Hours tab of the outbound rule)"},
		},
		Remedies: []string{"Check the dialled number against the extensions and the outbound rules (and their office hours).",
			"Check the dialled number and its format with the trunk provider.", RemedyCallerID},
		NextCheck: "The outbound rules that should match the dialled number, and their office hours."},
	{Key: "sip-401", Status: 401, Title: "401 Unauthorized", Section: general, UsualSender: Any,
		Meaning: "The request needs credentials; a first 401 followed by a request with credentials is normal.",
		Causes: []Cause{
			{PBX, "the phone's or app's authentication name or password is wrong"},
			{Trunk, "the trunk requires authentication and the PBX's trunk credentials were refused or missing"},
		},
		Remedies: []string{"Check the extension's authentication name and password on the phone or app. The PBX blocks an IP address for an hour after 50 failed SIP authentications within 10 seconds: remove it from the IP Blacklist once the password is fixed.",
			"Check the trunk's authentication name and password in the PBX's trunk settings."},
		NextCheck: "Whether a request with credentials followed the challenge, and what it got."},
	{Key: "sip-407", Status: 407, Title: "407 Proxy Authentication Required", Section: secInbound, UsualSender: PBX,
		Meaning: "For a call from a trunk: the PBX did not recognise the trunk or the dialled number; otherwise a credentials challenge.",
		Causes: []Cause{
			{PBX, "the trunk sends from an IP address that matches neither its host nor its Associated IP Addresses"},
			{PBX, "\"Verify the port when receiving SIP messages from the trunk\" is enabled and the source port differs"},
			{PBX, "the dialled number is not in the trunk's DID pool (often a country code the pool lacks)"},
			{Trunk, "the trunk requires authentication and the PBX's credentials were refused or missing"},
		},
		Remedies:  []string{RemedyAssociatedIPs, RemedyVerifyPort, RemedyDIDPool, RemedyInboundRules},
		NextCheck: "The trunk's host and Associated IP Addresses against the INVITE's source address, and the DID pool against the dialled number."},
	{Key: "sip-408", Status: 408, Title: "408 Request Timeout", Section: secOutbound, UsualSender: PBX,
		Meaning:   "The callee could not be reached in time.",
		Causes:    []Cause{{Network, "the callee cannot be reached, possibly because of a lost network connection"}},
		Remedies:  []string{"Check the network path to the callee (a phone behind NAT whose binding expired, a trunk that stopped answering)."},
		NextCheck: "Whether the callee's requests got any response in the capture (no-response findings)."},
	{Key: "sip-480", Status: 480, Title: "480 Temporarily Unavailable", Section: secOutbound, UsualSender: Callee,
		Meaning:   "The callee is not online or cannot answer now.",
		Causes:    []Cause{{Callee, "the callee is not online or is unavailable to answer"}},
		Remedies:  []string{"Check that the called extension is registered (online) and can answer; for a trunk call, the called party is unavailable."},
		NextCheck: "The called extension's registration status."},
	{Key: "sip-486", Status: 486, Title: "486 Busy Here", Section: general, UsualSender: Callee, Benign: true,
		Meaning: "The callee is busy: the callee's choice, not a fault.",
		Causes:  []Cause{{Callee, "the callee (or the callee's phone) is busy"}}},
	{Key: "sip-487", Status: 487, Title: "487 Request Terminated", Section: general, UsualSender: Any, Benign: true,
		Meaning:   "The INVITE was cancelled before an answer: normal after the caller's CANCEL.",
		Causes:    []Cause{{Caller, "the caller hung up before the callee answered (CANCEL)"}},
		NextCheck: "Whether a CANCEL preceded it; without one the request was ended by a server."},
	{Key: "sip-488", Status: 488, Title: "488 Not Acceptable Here", Section: general, UsualSender: Any,
		Meaning: "The offered media (codecs, transport) is not acceptable to the answering side.",
		Causes: []Cause{
			{Trunk, "the trunk supports none of the offered codecs"},
			{PBX, "the PBX or the called phone supports none of the offered codecs"},
		},
		Remedies:  []string{"Compare the codecs offered in the INVITE's SDP with those the trunk or phone supports, and enable a common codec on the PBX (trunk or extension codec list)."},
		NextCheck: "The m= and a=rtpmap lines of the refused INVITE's SDP."},
	{Key: "sip-503", Status: 503, Title: "503 Service Unavailable", Section: secOutbound, UsualSender: Any,
		Meaning: "The PBX or the trunk cannot provide service now, or a domain did not resolve.",
		Causes: []Cause{
			{PBX, "the PBX cannot provide service at this moment"},
			{Caller, "the app or IP phone failed to resolve the PBX's domain (DNS)"},
			{Trunk, "the SIP trunk cannot provide service at this moment"},
			{PBX, "the PBX failed to resolve the trunk's domain name (DNS)"},
		},
		Remedies: []string{"Check the PBX's services and disk (see the host findings), and that the PBX host resolves the trunk's domain name.",
			RemedyContactTrunk},
		NextCheck: "Who sent the 503: the PBX (services, DNS) or the trunk (provider)."},
	{Key: "sip-600", Status: 600, Title: "600 Busy Everywhere", Section: general, UsualSender: Callee, Benign: true,
		Meaning: "The callee is busy everywhere: the callee's choice.",
		Causes:  []Cause{{Callee, "the callee is busy"}}},
	{Key: "sip-603", Status: 603, Title: "603 Decline", Section: general, UsualSender: Callee, Benign: true,
		Meaning: "The callee declined the call: the callee's choice.",
		Causes:  []Cause{{Callee, "the callee declined the call"}}},
	{Key: "sip-3xx", Title: "Redirection", Section: general, UsualSender: Any,
		Meaning: "The call was redirected and not followed.",
		Causes:  []Cause{{Any, "the call was redirected and not followed"}}},
	{Key: "sip-4xx", Title: "Request failure", Section: general, UsualSender: Any,
		Meaning:   "The request was refused.",
		Causes:    []Cause{{Any, "the sender rejected the request"}},
		Remedies:  []string{RemedyCallerID, RemedyContactTrunk},
		NextCheck: "The Reason and Warning headers of the response."},
	{Key: "sip-5xx", Title: "Server failure", Section: general, UsualSender: Any,
		Meaning:   "A server failed to handle the request.",
		Causes:    []Cause{{Any, "a server error at the sender"}},
		Remedies:  []string{RemedyCallerID, RemedyContactTrunk},
		NextCheck: "The sender's own logs (callmanager.log for the PBX)."},
	{Key: "sip-6xx", Title: "Global failure", Section: general, UsualSender: Any,
		Meaning: "The destination will not accept the call anywhere.",
		Causes:  []Cause{{Any, "a global failure: the destination will not accept the call anywhere"}}},

	{Key: string(LicenceExceeded), Title: "Licence exceeded", Section: secOutbound, UsualSender: PBX,
		Meaning:   "The PBX refuses calls with 403 because the current usage exceeds its licence.",
		Causes:    []Cause{{PBX, "the current usage exceeds the PBX licence"}},
		Remedies:  []string{"Compare the concurrent calls with the licence's limit (pbxagent status shows the licence), and upgrade the licence or lower the load."},
		NextCheck: "The licence's call limit against the concurrent calls at the time of the 403s."},
	{Key: string(NoCDR), Title: "No CDR for the call", Section: secOutbound, UsualSender: Network,
		Meaning:   "The PBX did not receive the call.",
		Causes:    []Cause{{Network, "the app or IP phone cannot reach the PBX"}},
		Remedies:  []string{"Check that the app or IP phone can reach the PBX (address, port, transport, firewall)."},
		NextCheck: "A capture on the PBX while the call is placed: does the INVITE arrive?"},
	{Key: string(NoAnswer), Title: "No response to a request", Section: secNoResp, UsualSender: Trunk,
		Meaning: "A request was retransmitted and nothing came back, not even 100 Trying.",
		Causes: []Cause{
			{Trunk, "the trunk only accepts SIP from whitelisted addresses and the PBX's is not one"},
			{Trunk, "the trunk silently discards messages whose User-Agent contains \"PortSIP\""},
			{Network, "a firewall drops the traffic, or the address or port is wrong"},
		},
		Remedies: []string{RemedyWhitelist, RemedyUserAgent,
			"Check that the trunk's address and port in the PBX are right and that no firewall drops the traffic."},
		NextCheck: "The User-Agent of the unanswered requests, and the trunk provider's whitelist."},
	{Key: string(PortUnreachable), Title: "ICMP port unreachable", Section: general, UsualSender: Network,
		Meaning:   "Nothing listens on the destination's SIP port.",
		Causes:    []Cause{{Any, "the destination's SIP service is down or listens on another port"}},
		Remedies:  []string{"Check the destination's address and port (the trunk's or phone's SIP port) and that its SIP service is running."},
		NextCheck: "The destination's SIP port as configured in the PBX (trunk or extension)."},
	{Key: string(OneWayAudio), Title: "One-way audio", Section: secVoice, UsualSender: Network,
		Meaning: "The call was answered but audio flows in one direction only.",
		Causes: []Cause{
			{PBX, "the PBX announces the wrong (private or public) media address to the trunk"},
			{Trunk, "the trunk only sends RTP to whitelisted addresses"},
			{Network, "the cloud platform's security rules block the RTP port range"},
		},
		Remedies:  []string{RemedyPrivateIP, RemedyRTPWhitelist, RemedyCloudRTP},
		NextCheck: "The c= address in each side's SDP against where the RTP actually comes from and goes to."},
	{Key: string(NoAudio), Title: "No audio", Section: secVoice, UsualSender: Network,
		Meaning: "The call was answered but no audio flows in either direction.",
		Causes: []Cause{
			{PBX, "the PBX announces the wrong (private or public) media address to the trunk"},
			{Trunk, "the trunk only sends RTP to whitelisted addresses"},
			{Network, "the cloud platform's security rules block the RTP port range"},
		},
		Remedies:  []string{RemedyPrivateIP, RemedyRTPWhitelist, RemedyCloudRTP},
		NextCheck: "Whether the capture includes the media ports at all, then the SDP addresses."},
	{Key: string(PrivateSDP), Title: "Private media address announced", Section: secVoice, UsualSender: PBX,
		Meaning:   "The PBX put a private address into the SDP it sent to a party on the public Internet.",
		Causes:    []Cause{{PBX, "\"Use the private IP address to communicate with this trunk\" is enabled for a trunk on the public Internet"}},
		Remedies:  []string{RemedyPrivateIP},
		NextCheck: "The trunk's Options in the PBX."},
	{Key: string(PoorQuality), Title: "Poor call quality", Section: general, UsualSender: Network,
		Meaning:   "Audio flowed, but packet loss or jitter spoils speech.",
		Causes:    []Cause{{Network, "packet loss or congestion on the path between the PBX and the far end"}},
		Remedies:  []string{"Check the bandwidth and the links between the PBX and the far end; prioritise voice traffic (QoS/DSCP EF)."},
		NextCheck: "Which direction and which hop loses packets (the per-stream table)."},

	{Key: string(PortalLogin500), Title: "Portal: Unknown Error (500)", Section: secPortal, UsualSender: PBX,
		Meaning:   "The web portal login failed with 500, usually for lack of disk space.",
		Causes:    []Cause{{PBX, "insufficient disk space on the server"}},
		Remedies:  []string{RemedyDisk, "Enable email notifications to be warned before the disk runs full."},
		NextCheck: "Disk usage of the PBX's data folder."},
	{Key: string(PortalLogin502), Title: "Portal: Server error (502)", Section: secPortal, UsualSender: PBX,
		Meaning:   "The PBX's API gateway is down.",
		Causes:    []Cause{{PBX, "the API gateway is down"}, {PBX, "insufficient disk space"}},
		Remedies:  []string{RemedyDisk, "If the disk is fine, contact PortSIP support."},
		NextCheck: "The API gateway service and the disk."},
	{Key: string(PortalBadLogin), Title: "Portal: authentication error (UNAUTHORIZED)", Section: secPortal, UsualSender: Caller,
		Meaning:  "The user name or password is wrong.",
		Causes:   []Cause{{Caller, "the user name or password is incorrect"}},
		Remedies: []string{"Verify the credentials and try again."}},
	{Key: string(PortalNoTenant), Title: "Portal: no tenant for the SIP domain (404)", Section: secPortal, UsualSender: Caller,
		Meaning:  "The SIP domain entered does not exist.",
		Causes:   []Cause{{Caller, "the SIP domain does not exist"}},
		Remedies: []string{"Double-check the SIP domain entered."}},
	{Key: string(PortalBlockedIP), Title: "Portal: client IP blocked (DENIED)", Section: secPortal, UsualSender: PBX,
		Meaning:  "Too many wrong passwords blocked the client's address.",
		Causes:   []Cause{{Caller, "an incorrect password was entered too many times"}},
		Remedies: []string{"Log in from another address with the right credentials, then remove the blocked address from the IP Blacklist."}},
}
