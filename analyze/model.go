// Package analyze turns a bundle's packet capture and logs into findings:
// it walks the PortSIP troubleshooting guide's decision tree (which status
// code came back and from whom, whether the trunk answered at all, whether
// the SDP carries a private address, whether audio flows both ways, whether
// the disk is full or the admin's IP blocked) and writes analysis.json and a
// self-contained report.html. `pbxagent analyze` and every `pbxagent
// bundle` with a capture use it.
package analyze

import (
	"time"
)

// ModelVersion is bumped when a field of Report changes meaning.
const ModelVersion = 2

// Report is analysis.json.
type Report struct {
	Version   int       `json:"version"`
	Source    string    `json:"source"`
	Generated time.Time `json:"generated"`
	// Capture describes what was read.
	Capture CaptureInfo `json:"capture"`
	// PBX lists the addresses taken to be the PBX's own (the capturing
	// host's interfaces in a bundle, else inferred or given).
	PBX []string `json:"pbx_addresses"`
	// Calls are INVITE dialogs; Registrations are REGISTER transactions
	// grouped by Call-ID; Others are the remaining dialogs (OPTIONS,
	// SUBSCRIBE, MESSAGE ...), summarised.
	Calls         []Dialog `json:"calls"`
	Registrations []Dialog `json:"registrations"`
	Others        []Dialog `json:"others,omitempty"`
	// Streams are the RTP streams seen, matched to calls by SDP.
	Streams []RTPStream `json:"streams"`
	// Host is the state of the PBX host from the bundle (nil for a bare
	// capture file).
	Host *HostState `json:"host,omitempty"`
	// Findings are ranked, critical first.
	Findings []Finding `json:"findings"`
	// Peers are the other SIP endpoints seen, with the role given to each
	// and why.
	Peers []Peer `json:"peers,omitempty"`
	// Notes are caveats about the analysis itself (limits reached, how the
	// PBX address was chosen).
	Notes []string `json:"notes,omitempty"`
}

// Peer is one SIP endpoint other than the PBX.
type Peer struct {
	// Address is "ip" or, for an endpoint on one of the PBX's own
	// addresses, "ip:port".
	Address string `json:"address"`
	// Role is "extension", "trunk" or "peer".
	Role   string `json:"role"`
	Reason string `json:"reason,omitempty"`
	// UserAgents are the User-Agent or Server values it sent.
	UserAgents []string `json:"user_agents,omitempty"`
}

// CaptureInfo summarises the capture file.
type CaptureInfo struct {
	File       string    `json:"file"`
	Packets    int64     `json:"packets"`
	Bytes      int64     `json:"bytes"`
	SIP        int64     `json:"sip_messages"`
	RTP        int64     `json:"rtp_packets"`
	ICMP       int64     `json:"icmp_packets"`
	TLS        int64     `json:"tls_packets"` // SIP over TLS/WSS: opaque
	Malformed  int64     `json:"malformed"`   // counted and skipped
	Start      time.Time `json:"start,omitzero"`
	End        time.Time `json:"end,omitzero"`
	Interfaces []string  `json:"interfaces,omitempty"`
}

// Endpoint is one side of a packet.
type Endpoint struct {
	IP        string `json:"ip"`
	Port      int    `json:"port"`
	Transport string `json:"transport,omitempty"` // udp, tcp, tls
	// Role is "pbx", "extension", "trunk" or "peer" (unknown).
	Role string `json:"role,omitempty"`
}

// Message is one SIP message of a dialog, a rung of its ladder diagram.
type Message struct {
	Frame int       `json:"frame"` // 1-based packet number in the capture
	Time  time.Time `json:"time"`
	Src   Endpoint  `json:"src"`
	Dst   Endpoint  `json:"dst"`
	// Method is set on requests, Status and Reason on responses.
	Method         string `json:"method,omitempty"`
	Status         int    `json:"status,omitempty"`
	Reason         string `json:"reason,omitempty"`
	CSeq           string `json:"cseq"`
	Retransmission bool   `json:"retransmission,omitempty"`
	HasSDP         bool   `json:"has_sdp,omitempty"`
	// ICMP is set on an ICMP error about the dialog's request (e.g. "ICMP
	// port unreachable"), drawn as a rung of the ladder.
	ICMP string `json:"icmp,omitempty"`
	// Text is the message as captured (start line, headers, body), cut
	// at maxMessageText bytes.
	Text string `json:"text,omitempty"`
}

// SDP is the media part of one SDP offer or answer.
type SDP struct {
	Frame     int      `json:"frame"`
	From      Endpoint `json:"from"`
	Addr      string   `json:"connection_address"`
	Port      int      `json:"media_port"`
	Codecs    []string `json:"codecs,omitempty"`
	Direction string   `json:"direction,omitempty"` // sendrecv, sendonly, recvonly, inactive
	Private   bool     `json:"private_address"`
}

// Dialog is one call or registration, keyed by Call-ID.
type Dialog struct {
	CallID     string   `json:"call_id"`
	Method     string   `json:"method"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	UserAgents []string `json:"user_agents,omitempty"`
	// Direction is "extension→PBX", "PBX→extension", "PBX→trunk",
	// "trunk→PBX" or "unknown".
	Direction string `json:"direction"`
	// RoleRule says which rule made the far party an extension or a trunk
	// (REGISTER, a configured trunk address, or a heuristic).
	RoleRule string `json:"role_rule,omitempty"`
	// FinalStatus is the final response (0: none seen), FinalBy who sent
	// it ("pbx", "trunk", "extension", "peer").
	FinalStatus int    `json:"final_status"`
	FinalReason string `json:"final_reason,omitempty"`
	FinalBy     string `json:"final_by,omitempty"`
	Answered    bool   `json:"answered"`
	// Cancelled is set when the caller sent CANCEL before an answer.
	Cancelled bool `json:"cancelled,omitempty"`
	// ICMPError is set when the initial request drew an ICMP error and
	// no response: the call failed at the network.
	ICMPError string `json:"icmp_error,omitempty"`
	// NoResponse is true when a request was sent (and retransmitted) and
	// nothing at all came back.
	NoResponse bool      `json:"no_response"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	// Milliseconds from the first request to the first response and to
	// the 200 OK; -1 when not seen.
	FirstResponseMs int64     `json:"first_response_ms"`
	AnswerMs        int64     `json:"answer_ms"`
	Retransmissions int       `json:"retransmissions"`
	Messages        []Message `json:"messages"`
	SDP             []SDP     `json:"sdp,omitempty"`
	// Streams are indexes into Report.Streams.
	Streams []int `json:"streams,omitempty"`
	// Quality is the E-model score of the call's worse direction (nil
	// when no stream of the call could be scored).
	Quality *CallQuality `json:"quality,omitempty"`
	// Related are the Call-IDs of the PBX's other leg of the same call
	// (the extension's leg and the trunk's leg of one outbound call),
	// matched by time.
	Related []string `json:"related_call_ids,omitempty"`
	// RequestURI is the initial request's Request-URI.
	RequestURI string `json:"request_uri,omitempty"`
}

// RTPStream is one direction of media, by SSRC and addresses.
type RTPStream struct {
	SSRC uint32   `json:"ssrc"`
	Src  Endpoint `json:"src"`
	Dst  Endpoint `json:"dst"`
	// PayloadType is the stream's (last regular) payload type, Codec its
	// encoding name from the SDP's a=rtpmap or the static table;
	// PayloadTypes lists every payload type seen (telephone-event and
	// comfort noise included).
	PayloadType  int    `json:"payload_type"`
	PayloadTypes []int  `json:"payload_types,omitempty"`
	Codec        string `json:"codec,omitempty"`
	// Packets counts every packet, duplicates included; Lost is the
	// packets the sequence numbers span minus the distinct ones received.
	Packets     int64   `json:"packets"`
	Lost        int64   `json:"lost"`
	LossPercent float64 `json:"loss_percent"`
	Duplicates  int64   `json:"duplicates"`
	OutOfOrder  int64   `json:"out_of_order"`
	// LossBursts counts the gaps in the sequence, MaxBurst the longest.
	LossBursts int64 `json:"loss_bursts"`
	MaxBurst   int64 `json:"max_burst"`
	// JitterMs is the maximum RFC 3550 interarrival jitter (what tshark
	// shows as Max Jitter), JitterMeanMs its mean; both in ms.
	JitterMs     float64   `json:"jitter_max_ms"`
	JitterMeanMs float64   `json:"jitter_mean_ms"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	// Video is set for a 90 kHz (video) payload: no speech score.
	Video bool `json:"video,omitempty"`
	// Quality is the E-model estimate (nil without a known clock rate,
	// and for video).
	Quality *Quality `json:"quality,omitempty"`
	// CallID is the call whose SDP announced this stream's destination, ""
	// when none did; Expected is false for media from an address the SDP
	// did not announce.
	CallID   string `json:"call_id,omitempty"`
	Expected bool   `json:"expected"`
}

// CallQuality is a call's score: the worse of its scored streams.
type CallQuality struct {
	Stream int     `json:"stream"` // index into Report.Streams
	MOS    float64 `json:"mos"`
	R      float64 `json:"r_factor"`
	// Direction says which way the worse stream flows, e.g.
	// "trunk → pbx".
	Direction string `json:"direction"`
}

// HostState is what the bundle says about the PBX host.
type HostState struct {
	// Checks says for each host statement (gateway, containers, disks,
	// blocked_ips) whether its check ran and found it fine or a problem,
	// or did not run and why.
	Checks []HostCheck `json:"checks"`
	// Disks lists filesystems with use at or above the warning level.
	Disks []DiskUse `json:"disks,omitempty"`
	// Containers lists portsip.* containers not running or unhealthy.
	Containers []string `json:"containers,omitempty"`
	// GatewayDown is set when the REST API gateway check failed.
	Gateway string `json:"gateway,omitempty"`
	// Blocked lists blocked addresses when the bundle has them.
	Blocked []string `json:"blocked,omitempty"`
	// LogErrors are error lines of callmanager.log near failed calls.
	LogErrors []LogLine `json:"log_errors,omitempty"`
}

// DiskUse is one filesystem's use.
type DiskUse struct {
	Mount       string  `json:"mount"`
	UsedPercent float64 `json:"used_percent"`
	Free        int64   `json:"free_bytes"`
}

// LogLine is one line of a log with its position.
type LogLine struct {
	File string    `json:"file"`
	Line int       `json:"line"`
	Time time.Time `json:"time,omitzero"`
	Text string    `json:"text"`
}

// Severity ranks findings.
type Severity string

// Severities, most urgent first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Finding is one conclusion with its evidence and the guide's remedy.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code is stable for scripts, e.g. "sip-480", "no-response",
	// "one-way-audio", "private-sdp", "disk-full".
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// CallID links the finding to a dialog, when it is about one;
	// CallIDs lists every dialog of a finding that groups several.
	CallID  string   `json:"call_id,omitempty"`
	CallIDs []string `json:"call_ids,omitempty"`
	// Evidence: packet numbers in the capture and log lines.
	Frames []int     `json:"frames,omitempty"`
	Lines  []LogLine `json:"log_lines,omitempty"`
	// Remedy is what the PortSIP troubleshooting guide says to check.
	Remedy []string `json:"remedy,omitempty"`
}
