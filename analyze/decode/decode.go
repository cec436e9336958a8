// Package decode reads pcap and pcapng captures and yields what the
// analysis needs: SIP messages (UDP, and TCP reassembled by Content-Length),
// RTP headers, ICMP errors, and TLS/WSS packets counted as opaque. It streams
// the file with bounded memory and skips malformed packets, counting them.
//
// Supported files are pcap (both byte orders, microsecond and nanosecond
// timestamps, also gzip-compressed) and pcapng (any number of sections and
// interfaces). Supported link types are Ethernet (with 802.1Q/QinQ tags),
// Linux cooked capture v1 and v2, raw IPv4/IPv6 and BSD loopback; PPPoE
// sessions, GRE, IP-in-IP, VXLAN and GTP-U tunnels are unwrapped.
//
// Media is recognised from the signalling: the SDP of each SIP message
// announces the addresses whose datagrams are RTP, RTCP or T.38 (UDPTL),
// on any port; configured port ranges add RTP seen without SDP.
package decode

import (
	"net/netip"
	"time"
)

// Direction is the packet direction recorded by pcapng's epb_flags option.
type Direction uint8

// Packet directions.
const (
	// DirUnknown: the capture does not say (pcap files, or no epb_flags).
	DirUnknown Direction = iota
	// DirInbound: received by the capturing host.
	DirInbound
	// DirOutbound: sent by the capturing host.
	DirOutbound
)

// String returns "in", "out" or "".
func (d Direction) String() string {
	switch d {
	case DirInbound:
		return "in"
	case DirOutbound:
		return "out"
	}
	return ""
}

// Event is one decoded item, in capture order.
//
// Read reuses the Event, and the RTPHeader and ICMPError it points to, for
// the next item once the callback returns: copy what you keep. Event.SIP is
// the exception: every SIPMessage is newly allocated and may be kept.
type Event struct {
	// Frame is the 1-based packet number in the capture, as Wireshark
	// numbers it (for TCP, the packet that completed the SIP message; for
	// fragmented UDP, the packet with the last fragment).
	Frame int
	// Time is the packet's timestamp, in UTC.
	Time time.Time
	// Iface is the pcapng interface name ("" for pcap files and unnamed
	// interfaces).
	Iface string
	// Src and Dst are the packet's addresses; ports are 0 for ICMP.
	Src, Dst netip.AddrPort
	// Transport is "udp", "tcp", "tls" or, for ICMP errors, "icmp".
	Transport string
	// Direction is the pcapng epb_flags direction, when recorded.
	Direction Direction
	// Len is the packet's length on the wire.
	Len int
	// Exactly one of SIP, RTP, ICMP is set; none for an opaque TLS packet.
	SIP  *SIPMessage
	RTP  *RTPHeader
	ICMP *ICMPError
}

// SIPMessage is a parsed SIP request or response; header names are
// canonical (compact forms expanded: i → Call-ID, f → From, ...).
type SIPMessage struct {
	// Method and RequestURI are set on requests.
	Method     string
	RequestURI string
	// Status and Reason are set on responses.
	Status int
	Reason string
	// CallID is the Call-ID header.
	CallID string
	// From and To are the header values; FromTag and ToTag their tag
	// parameters.
	From, To string
	FromTag  string
	ToTag    string
	// CSeqNum and CSeqMethod are the CSeq header's parts.
	CSeqNum    uint32
	CSeqMethod string
	// Via lists every Via value (comma-separated values split), top first.
	Via []string
	// UserAgent is the User-Agent header, or Server when there is none.
	UserAgent string
	// Contact is the first Contact value.
	Contact string
	// ContentType is the Content-Type header without parameters, lower
	// case.
	ContentType string
	// Headers holds every header, canonical name → values in order (one
	// value per header line, folded lines joined with a space).
	Headers map[string][]string
	// Body is the message body, cut to Content-Length when present; SDP is
	// parsed when Content-Type is application/sdp (also as a part of a
	// multipart body).
	Body []byte
	SDP  *SDPBody
	// Text is the whole message as captured.
	Text string
}

// IsRequest reports whether m is a request.
func (m *SIPMessage) IsRequest() bool { return m.Method != "" }

// Header returns the first value of the header with canonical name name,
// or "".
func (m *SIPMessage) Header(name string) string {
	if v := m.Headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// SDPBody is the part of an SDP body the analysis uses.
type SDPBody struct {
	// OriginAddr is the o= line's address, ConnAddr the session-level c=
	// address (without a TTL or count suffix).
	OriginAddr string
	ConnAddr   string
	// Direction is the session-level direction attribute, "" when absent.
	Direction string
	Media     []SDPMedia
}

// SDPMedia is one m= line with its attributes.
type SDPMedia struct {
	// Type is the media type: audio, video, image ...
	Type string
	// Port is the m= line's port (0: media disabled).
	Port int
	// Proto is the transport: RTP/AVP, RTP/SAVP, UDPTL ...
	Proto string
	// Formats are the numeric formats (RTP payload types) of the m= line.
	Formats []int
	// ConnAddr is the media-level c= address, else the session's.
	ConnAddr string
	// RTPMap holds the a=rtpmap values, e.g. "0 PCMU/8000".
	RTPMap []string
	// Direction is sendrecv (default), sendonly, recvonly or inactive; a
	// media-level attribute overrides the session-level one.
	Direction string
}

// RTPHeader is the fixed RTP header.
type RTPHeader struct {
	PayloadType uint8
	Marker      bool
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	// PayloadLen is the payload length, without header, CSRCs, extension
	// and padding (for a packet cut by the capture's snap length, computed
	// from the UDP length, padding unknown).
	PayloadLen int
	// CSRCCount, Extension and Padding are the header's CC, X and P
	// fields; HeaderLen the length up to the payload.
	CSRCCount uint8
	Extension bool
	Padding   bool
	HeaderLen int
}

// ICMPError is an ICMP destination-unreachable (or similar) about a UDP
// datagram, with the original datagram's addresses.
type ICMPError struct {
	// Type and Code are the ICMP (or ICMPv6) type and code.
	Type, Code uint8
	// V6 is set for ICMPv6.
	V6 bool
	// OrigSrc and OrigDst are the addresses of the UDP datagram the error
	// is about.
	OrigSrc, OrigDst netip.AddrPort
	// PortUnreachable is set for ICMP type 3 code 3 and ICMPv6 type 1
	// code 4.
	PortUnreachable bool
}

// Stats counts what the reader saw.
type Stats struct {
	// Packets and Bytes count every packet of the capture and its length
	// on the wire.
	Packets int64
	Bytes   int64
	// SIP, RTP, ICMP and TLS count the events of each kind.
	SIP  int64
	RTP  int64
	ICMP int64
	TLS  int64
	// RTCP counts RTCP packets and UDPTL the T.38 fax packets on ports
	// the SDP announced for UDPTL (both recognised and skipped).
	RTCP  int64
	UDPTL int64
	// Malformed counts packets (and file records) that could not be
	// decoded and were skipped.
	Malformed int64
	// Reassembled counts UDP datagrams rebuilt from IP fragments; TCPGaps
	// the TCP SIP streams that lost data and were resynchronised.
	Reassembled int64
	TCPGaps     int64
	// Start and End are the first and last packet timestamps.
	Start time.Time
	End   time.Time
	// Interfaces lists the named pcapng interfaces, in order.
	Interfaces []string
}

// Options tune the reader.
type Options struct {
	// Media is found first on the addresses and ports the SDP of SIP
	// messages earlier in the capture announced (RTP on the m= port, RTCP
	// on the next, UDPTL for T.38), whatever the port.
	//
	// RTPLow..RTPHigh and RTPRanges are the UDP port ranges also treated
	// as RTP when no SDP announced the datagram's ports (media whose
	// signalling the capture missed); zero RTPLow and RTPHigh mean
	// 1024-65535. A datagram is taken as RTP there when it passes the RTP
	// version check, either port is in a range and both ports are 1024 or
	// above.
	RTPLow, RTPHigh int
	RTPRanges       []PortRange
	// SIPPorts are the ports SIP is recognised on for TCP reassembly and
	// TLS counting; UDP SIP is recognised by content on any port. Empty
	// means 5060, 5061, 5063 and 5065 (PortSIP's UDP/TCP, TLS, TCP and WSS
	// defaults). TCP streams on other ports are followed when a segment
	// starts with a SIP start line.
	SIPPorts []int
	// TLSPorts are the TCP ports whose streams are taken as TLS unless
	// they carry plain SIP; empty means 5061 and 5065. Streams that start
	// with a TLS record are TLS on any port of SIPPorts.
	TLSPorts []int
	// Raw, when set, sees every packet as captured before it is decoded
	// (to copy packets out of a capture); Data is only valid during the
	// call.
	Raw func(RawPacket) error
}

// RawPacket is one captured packet as it is in the file.
type RawPacket struct {
	Frame    int
	Time     time.Time
	LinkType int // the pcap LINKTYPE_ value of its interface
	Data     []byte
	Len      int // length on the wire
}
