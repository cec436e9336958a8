package decode

import (
	"errors"
	"strconv"
	"strings"
)

var errSDP = errors.New("decode: not an SDP body")

// maxSDPMedia bounds the m= lines ParseSDP keeps.
const maxSDPMedia = 64

// ParseSDP parses the parts of an SDP body (RFC 4566) the analysis uses:
// o= and c= addresses, m= lines with their formats, a=rtpmap values,
// media-level c= lines and the direction attributes. It fails when b has
// no "x=value" line at all.
func ParseSDP(b []byte) (*SDPBody, error) {
	return parseSDP(string(b))
}

func parseSDP(s string) (*SDPBody, error) {
	p := sdpParser{sdp: &SDPBody{}, cur: -1}
	valid := false
	for s != "" {
		var line string
		line, s = cutLine(s)
		line = strings.TrimSpace(line)
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		typ, v := line[0], line[2:]
		valid = true
		switch typ {
		case 'o':
			if f := strings.Fields(v); len(f) >= 6 {
				p.sdp.OriginAddr = f[5]
			}
		case 'c':
			p.conn(v)
		case 'm':
			p.media(v)
		case 'a':
			p.attr(v)
		}
	}
	if !valid {
		return nil, errSDP
	}
	p.inherit()
	return p.sdp, nil
}

// sdpParser is an SDP being read: cur is the index of the current m=
// section, -1 before the first, -2 inside an ignored one.
type sdpParser struct {
	sdp *SDPBody
	cur int
}

// conn reads a c= line into the session or the current media.
func (p *sdpParser) conn(v string) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return
	}
	addr, _, _ := strings.Cut(f[2], "/")
	switch {
	case p.cur >= 0:
		p.sdp.Media[p.cur].ConnAddr = addr
	case p.cur == -1:
		p.sdp.ConnAddr = addr
	}
}

// media starts an m= section, or ignores it past maxSDPMedia or when
// malformed.
func (p *sdpParser) media(v string) {
	f := strings.Fields(v)
	if len(p.sdp.Media) >= maxSDPMedia || len(f) < 3 {
		p.cur = -2 // attributes of an ignored m= line
		return
	}
	ps, _, _ := strings.Cut(f[1], "/")
	port, _ := strconv.Atoi(ps)
	md := SDPMedia{Type: f[0], Port: port, Proto: f[2]}
	for _, fm := range f[3:] {
		if n, err := strconv.Atoi(fm); err == nil && n >= 0 && n < 1<<16 {
			md.Formats = append(md.Formats, n)
		}
	}
	p.sdp.Media = append(p.sdp.Media, md)
	p.cur = len(p.sdp.Media) - 1
}

// attr reads the direction and rtpmap attributes.
func (p *sdpParser) attr(v string) {
	name, val, _ := strings.Cut(v, ":")
	switch name {
	case "sendrecv", "sendonly", "recvonly", "inactive":
		switch {
		case p.cur >= 0:
			p.sdp.Media[p.cur].Direction = name
		case p.cur == -1:
			p.sdp.Direction = name
		}
	case "rtpmap":
		if p.cur >= 0 && len(p.sdp.Media[p.cur].RTPMap) < 64 {
			p.sdp.Media[p.cur].RTPMap = append(p.sdp.Media[p.cur].RTPMap, strings.Join(strings.Fields(val), " "))
		}
	}
}

// inherit gives each media the session's address and direction when it
// has none of its own; the direction defaults to sendrecv.
func (p *sdpParser) inherit() {
	for i := range p.sdp.Media {
		md := &p.sdp.Media[i]
		if md.ConnAddr == "" {
			md.ConnAddr = p.sdp.ConnAddr
		}
		if md.Direction == "" {
			md.Direction = p.sdp.Direction
		}
		if md.Direction == "" {
			md.Direction = "sendrecv"
		}
	}
}
