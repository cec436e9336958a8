package analyze

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// WriteCall writes the packets of one dialog of a capture file as pcapng:
// its SIP messages (and ICMP errors) and the RTP of its streams, as
// sngrep's "save dialog" does. rep is the analysis of the same file. It
// returns the number of packets written.
func WriteCall(ctx context.Context, capture string, rep *Report, callID string, w io.Writer) (int, error) {
	d := findDialog(rep, callID)
	if d == nil {
		return 0, fmt.Errorf("no call, registration or dialog with Call-ID %q in %s", callID, capture)
	}
	frames := map[int]bool{}
	for _, m := range d.Messages {
		frames[m.Frame] = true
	}
	type key struct {
		src, dst netip.AddrPort
		ssrc     uint32
	}
	streams := map[key]bool{}
	for _, s := range rep.Streams {
		if s.CallID != callID {
			continue
		}
		src, err1 := netip.ParseAddr(s.Src.IP)
		dst, err2 := netip.ParseAddr(s.Dst.IP)
		if err1 == nil && err2 == nil {
			streams[key{netip.AddrPortFrom(src, uint16(s.Src.Port)), netip.AddrPortFrom(dst, uint16(s.Dst.Port)), s.SSRC}] = true
		}
	}
	opt := Options{}.DecodeOptions()
	if len(streams) > 0 {
		_, err := decode.ReadFile(ctx, capture, opt, func(e *decode.Event) error {
			if e.RTP != nil && streams[key{unmapAP(e.Src), unmapAP(e.Dst), e.RTP.SSRC}] {
				frames[e.Frame] = true
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", capture, err)
		}
	}
	return copyFrames(ctx, capture, frames, w)
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func findDialog(rep *Report, callID string) *Dialog {
	for _, list := range [][]Dialog{rep.Calls, rep.Registrations, rep.Others} {
		for i := range list {
			if list[i].CallID == callID {
				return &list[i]
			}
		}
	}
	return nil
}

// copyFrames writes the listed frames of capture to w as pcapng, one
// interface per link type.
func copyFrames(ctx context.Context, capture string, frames map[int]bool, w io.Writer) (int, error) {
	var ng *pcapgo.NgWriter
	ifaces := map[int]int{}
	n := 0
	opt := Options{}.DecodeOptions()
	opt.Raw = func(p decode.RawPacket) error {
		if !frames[p.Frame] {
			return nil
		}
		lt := layers.LinkType(p.LinkType)
		if ng == nil {
			var err error
			if ng, err = pcapgo.NewNgWriter(w, lt); err != nil {
				return err
			}
			ifaces[p.LinkType] = 0
		}
		id, ok := ifaces[p.LinkType]
		if !ok {
			var err error
			if id, err = ng.AddInterface(pcapgo.NgInterface{LinkType: lt, SnapLength: 262144}); err != nil {
				return err
			}
			ifaces[p.LinkType] = id
		}
		n++
		return ng.WritePacket(gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: max(p.Len, len(p.Data)), InterfaceIndex: id}, p.Data)
	}
	if _, err := decode.ReadFile(ctx, capture, opt, func(*decode.Event) error { return nil }); err != nil {
		return n, fmt.Errorf("copy packets of %s: %w", capture, err)
	}
	if ng == nil {
		return 0, fmt.Errorf("none of the call's packets were found in %s", capture)
	}
	return n, ng.Flush()
}
