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
	sdp := &SDPBody{}
	cur := -1 // index of the current m= section
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
				sdp.OriginAddr = f[5]
			}
		case 'c':
			f := strings.Fields(v)
			if len(f) < 3 {
				continue
			}
			addr, _, _ := strings.Cut(f[2], "/")
			switch {
			case cur >= 0:
				sdp.Media[cur].ConnAddr = addr
			case cur == -1:
				sdp.ConnAddr = addr
			}
		case 'm':
			f := strings.Fields(v)
			if len(sdp.Media) >= maxSDPMedia || len(f) < 3 {
				cur = -2 // attributes of an ignored m= line
				continue
			}
			p, _, _ := strings.Cut(f[1], "/")
			port, _ := strconv.Atoi(p)
			md := SDPMedia{Type: f[0], Port: port, Proto: f[2]}
			for _, fm := range f[3:] {
				if n, err := strconv.Atoi(fm); err == nil && n >= 0 && n < 1<<16 {
					md.Formats = append(md.Formats, n)
				}
			}
			sdp.Media = append(sdp.Media, md)
			cur = len(sdp.Media) - 1
		case 'a':
			name, val, _ := strings.Cut(v, ":")
			switch name {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				switch {
				case cur >= 0:
					sdp.Media[cur].Direction = name
				case cur == -1:
					sdp.Direction = name
				}
			case "rtpmap":
				if cur >= 0 && len(sdp.Media[cur].RTPMap) < 64 {
					sdp.Media[cur].RTPMap = append(sdp.Media[cur].RTPMap, strings.Join(strings.Fields(val), " "))
				}
			}
		}
	}
	if !valid {
		return nil, errSDP
	}
	for i := range sdp.Media {
		md := &sdp.Media[i]
		if md.ConnAddr == "" {
			md.ConnAddr = sdp.ConnAddr
		}
		if md.Direction == "" {
			md.Direction = sdp.Direction
		}
		if md.Direction == "" {
			md.Direction = "sendrecv"
		}
	}
	return sdp, nil
}
