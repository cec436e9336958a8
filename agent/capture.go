package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/capture"
	"github.com/pbxagent/pbxagent/config"
)

// captureName is the archive path of the packet capture.
const captureName = "capture/capture.pcapng"

// CaptureRequest says what to capture during the live window.
type CaptureRequest struct {
	// Interfaces to capture on; empty means every interface that is up.
	Interfaces []string
	// Filter selects packets; the zero value means the PBX's SIP ports, RTP
	// range and ICMP from the configuration (see Agent.DefaultFilter).
	Filter       *capture.Filter
	SnapLen      int
	NoRTPPayload bool
	// MaxBytes caps the pcapng file; 0 means the default (200 MiB).
	MaxBytes   int64
	MaxPackets int64
}

// DefaultMaxCaptureBytes caps a bundle's capture when the request does not.
const DefaultMaxCaptureBytes = 200 << 20

// DefaultMaxPackets caps a bundle's capture by packet count.
const DefaultMaxPackets = 5_000_000

// armTimeout bounds the wait for the capture sockets to open.
const armTimeout = 5 * time.Second

// DefaultFilter is the capture filter for this PBX: its SIP ports, its RTP
// range and ICMP (port-unreachable explains many "no response" cases).
func (a *Agent) DefaultFilter() capture.Filter {
	f := capture.DefaultFilter()
	if len(a.cfg.PBX.SIPPorts) > 0 {
		f.SIPPorts = append([]int(nil), a.cfg.PBX.SIPPorts...)
	}
	if lo, hi, err := config.ParsePortRange(a.cfg.PBX.RTPRange); err == nil {
		f.RTPLow, f.RTPHigh = lo, hi
	}
	return f
}

// liveCapture is a packet capture running in the live window.
type liveCapture struct {
	spool   *bundle.Spool
	opt     capture.Options
	packets atomic.Int64
	bytes   atomic.Int64
	done    chan struct{}
	stats   capture.Stats
	err     error
}

// startCapture opens the capture sockets and waits until they are armed, so
// "reproduce the problem now" is only said once packets are being recorded.
// A capture that cannot start is recorded in the manifest and the bundle
// goes on without it.
func (a *Agent) startCapture(ctx context.Context, req BundleRequest, w *bundle.Writer, g *bundle.Guard, host string) (*liveCapture, error) {
	cr := req.Capture
	f := a.DefaultFilter()
	if cr.Filter != nil {
		f = *cr.Filter
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	maxBytes, maxPackets := captureLimits(cr, w, g)
	sp, err := bundle.NewSpool(req.OutputDir, g)
	if err != nil {
		return nil, err
	}
	lc := &liveCapture{
		spool: sp,
		done:  make(chan struct{}),
		opt: capture.Options{
			Interfaces:   cr.Interfaces,
			Filter:       f,
			SnapLen:      cr.SnapLen,
			NoRTPPayload: cr.NoRTPPayload,
			MaxBytes:     maxBytes,
			MaxPackets:   maxPackets,
			Comment:      fmt.Sprintf("pbxagent %s support bundle on host %s; filter: %s", a.version, host, f.String()),
		},
	}
	return a.runCapture(ctx, lc, w), nil
}

// captureLimits are the capture's byte and packet caps: the request's or
// the defaults, and at most half of the space free above the reserve.
func captureLimits(cr CaptureRequest, w *bundle.Writer, g *bundle.Guard) (maxBytes, maxPackets int64) {
	maxBytes = cr.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxCaptureBytes
	}
	// The spool and its copy in the archive both take space (packets
	// compress poorly), so the capture gets half of what is free above the
	// reserve at most.
	if avail, err := g.Available(); err == nil && avail/2 < maxBytes {
		maxBytes = avail / 2
		w.Warn(fmt.Sprintf("capture limited to %s by the free space on the output filesystem", config.HumanBytes(maxBytes)))
	}
	maxPackets = cr.MaxPackets
	if maxPackets <= 0 {
		maxPackets = DefaultMaxPackets
	}
	return maxBytes, maxPackets
}

// runCapture starts the capture and waits until it is armed; a capture that
// ends before is noted in the bundle and nil is returned, and one slow to
// start goes on with a warning.
func (a *Agent) runCapture(ctx context.Context, lc *liveCapture, w *bundle.Writer) *liveCapture {
	armed := make(chan struct{})
	var armOnce sync.Once
	go func() {
		defer close(lc.done)
		lc.stats, lc.err = capture.Run(ctx, lc.spool, lc.opt, func(s capture.Stats) {
			lc.packets.Store(s.Written)
			lc.bytes.Store(s.Bytes)
			armOnce.Do(func() { close(armed) })
		})
	}()
	select {
	case <-armed:
		return lc
	case <-lc.done:
		lc.spool.Close()
		reason := lc.err
		if reason == nil {
			reason = errors.New("capture stopped before it started")
		}
		w.Missing(captureName, "capture", reason.Error())
		w.Warn(fmt.Sprintf("no packet capture: %v", reason))
		a.log.Warn("packet capture unavailable; the bundle goes on without it", "err", reason)
		return nil
	case <-time.After(armTimeout):
		w.Warn("packet capture took more than 5 s to start")
		return lc
	}
}

// Packets returns the number of packets written so far.
func (lc *liveCapture) Packets() int64 {
	if lc == nil {
		return 0
	}
	return lc.packets.Load()
}

// Bytes returns the size of the capture written so far.
func (lc *liveCapture) Bytes() int64 {
	if lc == nil {
		return 0
	}
	return lc.bytes.Load()
}

// finish waits for the capture to stop (its context must be cancelled) and
// records the capture's report; the window adds the pcapng file. The spool
// stays open for the analysis; the window closes it.
func (lc *liveCapture) finish(w *bundle.Writer, sections map[string]any) {
	<-lc.done
	st := lc.stats
	sec := map[string]any{
		"filter":         st.Filter,
		"interfaces":     lc.opt.Interfaces,
		"snaplen":        lc.opt.SnapLen,
		"no_rtp_payload": lc.opt.NoRTPPayload,
		"max_bytes":      lc.opt.MaxBytes,
		"max_packets":    lc.opt.MaxPackets,
		"start":          st.Start,
		"end":            st.End,
		"seen":           st.Seen,
		"written":        st.Written,
		"bytes":          st.Bytes,
		"kernel_dropped": st.KernelDropped,
		"filter_dropped": st.FilterDropped,
		"rtp_trimmed":    st.Trimmed,
		"truncated":      st.Truncated,
		"stop_reason":    st.StopReason,
		"per_interface":  perInterface(st),
	}
	if lc.opt.SnapLen == 0 {
		sec["snaplen"] = capture.DefaultSnapLen
	}
	if lc.err != nil {
		sec["error"] = lc.err.Error()
		w.Warn(fmt.Sprintf("packet capture ended with an error: %v", lc.err))
	}
	if st.Truncated {
		w.Warn(fmt.Sprintf("packet capture stopped early (%s); raise --max-capture-size or narrow the filter", st.StopReason))
	}
	if st.KernelDropped > 0 {
		w.Warn(fmt.Sprintf("the kernel dropped %d packets during the capture", st.KernelDropped))
	}
	sections["capture"] = sec
}

func perInterface(st capture.Stats) []map[string]any {
	names := make([]string, 0, len(st.PerInterface))
	for n := range st.PerInterface {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		s := st.PerInterface[n]
		m := map[string]any{"name": n, "link_type": s.LinkType, "seen": s.Seen, "written": s.Written, "kernel_dropped": s.KernelDropped}
		if s.Err != "" {
			m["error"] = s.Err
		}
		out = append(out, m)
	}
	return out
}
