//go:build windows

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/pcap"
)

// Npcap device flags (pcap_if_t.flags).
const (
	pcapIfUp           = 0x2
	pcapIfRunning      = 0x4
	pcapIfStatusMask   = 0x30
	pcapIfDisconnected = 0x20
)

// pcapSource reads one Npcap device. The filter is the tcpdump expression
// of [Filter.String], compiled by Npcap.
type pcapSource struct {
	h     *pcap.Handle
	index int
	desc  ifaceDesc
	drops atomic.Int64
}

func run(ctx context.Context, w io.Writer, opt Options, progress func(Stats)) (Stats, error) {
	if err := pcap.LoadWinPCAP(); err != nil {
		return Stats{}, fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	start := time.Now()
	devs, err := pcap.FindAllDevs()
	if err != nil {
		return Stats{}, fmt.Errorf("capture: list Npcap devices: %w", err)
	}
	var chosen []pcap.Interface
	if len(opt.Interfaces) > 0 {
		for _, want := range opt.Interfaces {
			found := false
			for _, d := range devs {
				if strings.EqualFold(d.Name, want) || strings.EqualFold(d.Description, want) {
					chosen = append(chosen, d)
					found = true
					break
				}
			}
			if !found {
				return Stats{}, fmt.Errorf("capture: interface %q not found", want)
			}
		}
	} else {
		for _, d := range devs {
			if d.Flags&(pcapIfUp|pcapIfRunning) == pcapIfUp|pcapIfRunning && d.Flags&pcapIfStatusMask != pcapIfDisconnected {
				chosen = append(chosen, d)
			}
		}
		if len(chosen) == 0 {
			chosen = devs
		}
	}
	expr := opt.Filter.String()
	var srcs []source
	skipped := map[string]InterfaceStats{}
	defer func() {
		for _, s := range srcs {
			s.(*pcapSource).h.Close()
		}
	}()
	for _, d := range chosen {
		h, err := pcap.OpenLive(d.Name, int32(opt.SnapLen), false, pollTimeout)
		if err == nil && expr != "" {
			if err = h.SetBPFFilter(expr); err != nil {
				h.Close()
			}
		}
		if err != nil {
			if strings.Contains(strings.ToLower(err.Error()), "denied") {
				return Stats{}, fmt.Errorf("%w (%v)", ErrPermission, err)
			}
			if len(opt.Interfaces) > 0 {
				return Stats{}, fmt.Errorf("capture: open %s: %w", d.Name, err)
			}
			skipped[d.Name] = InterfaceStats{Index: -1, Err: err.Error()}
			continue
		}
		srcs = append(srcs, &pcapSource{h: h, index: len(srcs), desc: ifaceDesc{name: d.Name, desc: d.Description, linkType: h.LinkType()}})
	}
	if len(srcs) == 0 {
		return Stats{}, errors.New("capture: no Npcap device could be opened")
	}
	return merge(ctx, w, opt, progress, start, srcs, skipped)
}

const pollTimeout = 100 * time.Millisecond

func (s *pcapSource) describe() ifaceDesc { return s.desc }

func (s *pcapSource) kernelDropped() int64 {
	if st, err := s.h.Stats(); err == nil {
		s.drops.Store(int64(st.PacketsDropped + st.PacketsIfDropped))
	}
	return s.drops.Load()
}

// read returns packets one at a time; Npcap's read timeout lets it see ctx.
func (s *pcapSource) read(ctx context.Context, hard <-chan struct{}, emit func(*batch) bool) error {
	b := &batch{pkts: make([]packet, 1)}
	for ctx.Err() == nil {
		select {
		case <-hard:
			return nil
		default:
		}
		data, ci, err := s.h.ReadPacketData()
		switch {
		case errors.Is(err, pcap.NextErrorTimeoutExpired):
			continue
		case err != nil:
			return err
		}
		b.pkts[0] = packet{iface: s.index, ts: ci.Timestamp.UnixNano(), data: data, length: ci.Length}
		if !emit(b) {
			return nil
		}
	}
	return nil
}
