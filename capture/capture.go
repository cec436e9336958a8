// Package capture records network packets of a PortSIP PBX host (SIP, RTP
// and ICMP by default) into a pcapng stream.
//
// It is a library piece: [Run] writes to an [io.Writer] and runs until its
// context is done or a size limit is reached, so the same code serves the
// support bundle (`pbxagent bundle --duration 30s` puts capture/capture.pcapng
// into the bundle) and a long-running service that keeps a rolling "flight
// recorder" of recent traffic.
//
// On Linux capture needs neither libpcap nor cgo: one AF_PACKET socket with a
// TPACKET_V3 memory-mapped ring is opened per interface, the [Filter] is
// compiled to classic BPF by this package and attached in the kernel, and the
// packets of all sockets are merged into one pcapng section with one
// Interface Description Block per interface and the packet direction in each
// Enhanced Packet Block. Capturing needs root or CAP_NET_RAW ([ErrPermission]).
//
// On Windows capture uses Npcap's wpcap.dll, loaded at run time (no cgo);
// without Npcap [Run] returns [ErrUnavailable]. Other systems are not
// supported and also return [ErrUnavailable].
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrPermission is returned (wrapped, together with the system error) when the
// operating system refuses to open a capture socket.
var ErrPermission = errors.New("capture: permission denied: run as root, grant CAP_NET_RAW (setcap cap_net_raw+ep), or use --no-capture")

// ErrUnavailable is returned when packet capture is not possible on this
// system: on Windows when Npcap is not installed, and on systems other than
// Linux and Windows.
var ErrUnavailable = errors.New("capture: packet capture unavailable: install Npcap from https://npcap.com (WinPcap-compatible mode), or use --no-capture")

// DefaultSnapLen is the number of bytes kept of each packet when
// [Options.SnapLen] is zero.
const DefaultSnapLen = 65535

// Options controls one capture run.
type Options struct {
	// Interfaces names the interfaces to capture on. Empty means every
	// interface that is up, loopback included.
	Interfaces []string
	// Filter selects the packets to keep; see [DefaultFilter].
	Filter Filter
	// SnapLen is the maximum number of bytes kept of each packet;
	// zero means [DefaultSnapLen].
	SnapLen int
	// NoRTPPayload keeps only the headers, up to and including the RTP
	// header (12 bytes plus the CSRC list), of RTP packets whose UDP source
	// or destination port lies in the filter's RTP range, so that a capture
	// shows call flow and timing without the audio. RTCP and non-RTP
	// packets in that range are kept whole.
	NoRTPPayload bool
	// MaxBytes stops the capture before the pcapng stream would grow past
	// this many bytes (closing statistics blocks included); zero means no
	// limit.
	MaxBytes int64
	// MaxPackets stops the capture after this many packets were written;
	// zero means no limit.
	MaxPackets int64
	// Comment is written as the section header comment, typically the host
	// name and the filter.
	Comment string
	// BufferSize is the kernel ring size per interface in bytes (Linux);
	// zero means 32 MiB.
	BufferSize int
	// ProgressInterval is how often progress is called and the output
	// flushed; zero means one second.
	ProgressInterval time.Duration
}

// InterfaceStats holds the counters of one captured interface.
type InterfaceStats struct {
	// Index is the interface's number in the pcapng file (0..n-1).
	Index int
	// LinkType names the pcapng link type, e.g. "Ethernet".
	LinkType string
	// Seen counts packets handed over by the kernel after filtering.
	Seen int64
	// Written counts packets written to the output.
	Written int64
	// KernelDropped counts packets the kernel matched but had no room for.
	KernelDropped int64
	// Err is the error that ended capture on this interface early, if any.
	Err string
}

// Stats reports the progress and outcome of [Run].
type Stats struct {
	// Start and End are the wall-clock times capture started and (in the
	// final Stats) ended.
	Start, End time.Time
	// Filter is the filter's tcpdump expression ([Filter.String]).
	Filter string
	// Seen counts packets handed over by the kernel after filtering.
	Seen int64
	// Written counts packets written to the output.
	Written int64
	// Bytes is the size of the pcapng stream written so far.
	Bytes int64
	// KernelDropped counts packets the kernel matched but dropped because
	// the capture buffer was full.
	KernelDropped int64
	// FilterDropped counts packets the kernel handed over that the agent
	// discarded itself (loopback's outgoing copy, non-IP packets on cooked
	// interfaces). Packets rejected by the kernel filter are not counted.
	FilterDropped int64
	// Trimmed counts RTP packets whose payload was cut off because of
	// [Options.NoRTPPayload].
	Trimmed int64
	// Truncated is true when a MaxBytes or MaxPackets limit stopped the
	// capture.
	Truncated bool
	// StopReason says why the capture stopped, e.g. "context canceled" or
	// "max packets (1000) reached"; empty while running.
	StopReason string
	// PerInterface holds the counters per interface name.
	PerInterface map[string]InterfaceStats
}

func (s Stats) clone() Stats {
	c := s
	c.PerInterface = make(map[string]InterfaceStats, len(s.PerInterface))
	for k, v := range s.PerInterface {
		c.PerInterface[k] = v
	}
	return c
}

// Run captures packets as opt describes and writes them as one pcapng
// section to w until ctx is done or a MaxBytes/MaxPackets limit is reached.
// Either way the stream is flushed and ends on a complete block, with one
// Interface Statistics Block per interface, so the output is a valid pcapng
// file. Stopping because ctx is done is not an error: the returned Stats say
// why capture stopped. progress, if not nil, is called from Run's goroutine
// once as soon as capture is running (every socket is open and filtering) and
// then about once per [Options.ProgressInterval] with a snapshot of the
// counters; the output is flushed before each periodic call.
//
// Run fails with an error wrapping [ErrPermission] when capture sockets may
// not be opened, and with [ErrUnavailable] where capture is not supported.
func Run(ctx context.Context, w io.Writer, opt Options, progress func(Stats)) (Stats, error) {
	if opt.SnapLen <= 0 {
		opt.SnapLen = DefaultSnapLen
	}
	if opt.SnapLen > 262144 {
		return Stats{}, fmt.Errorf("capture: snap length %d too large (at most 262144)", opt.SnapLen)
	}
	if err := opt.Filter.Validate(); err != nil {
		return Stats{}, err
	}
	if opt.MaxBytes < 0 || opt.MaxPackets < 0 {
		return Stats{}, errors.New("capture: negative limit")
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = time.Second
	}
	if progress == nil {
		progress = func(Stats) {}
	}
	return run(ctx, w, opt, progress)
}
