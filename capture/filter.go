package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Filter selects the packets a capture keeps.
//
// A packet is kept when it is TCP or UDP with a SIP port as source or
// destination, UDP with a source or destination port in the RTP range, or
// ICMP/ICMPv6 (when ICMP is set); with All set every IPv4 and IPv6 packet is
// kept. When Hosts is not empty, the packet must also have one of them as its
// IPv4/IPv6 source or destination address.
//
// IP fragments: only the first fragment of a datagram carries the ports.
// Non-first IPv4 fragments of UDP datagrams, and all IPv6 fragments whose
// fragment header announces UDP (or ICMPv6 when ICMP is set), are therefore
// kept without a port match, so that large SIP messages sent over UDP (which
// the IP layer fragments) can be reassembled from the capture. Non-first
// fragments of TCP are not kept (TCP avoids IP fragmentation). A host filter
// still applies to fragments.
//
// The kernel filter, [Filter.Program], also matches IPv4/IPv6 packets inside
// one 802.1Q or 802.1ad VLAN tag on Ethernet; [Filter.String] describes the
// untagged case, which is what the Linux kernel shows the filter (it strips
// VLAN tags before the packet reaches capture sockets).
type Filter struct {
	// SIPPorts are matched as TCP and UDP source or destination ports.
	SIPPorts []int
	// RTPLow and RTPHigh bound the UDP port range of RTP (inclusive).
	RTPLow, RTPHigh int
	// NoRTP disables the RTP port range.
	NoRTP bool
	// Hosts, when not empty, restricts the capture to packets from or to
	// one of these addresses.
	Hosts []netip.Addr
	// All keeps every IPv4 and IPv6 packet (still restricted by Hosts);
	// without Hosts every packet at all is kept.
	All bool
	// ICMP keeps ICMP and ICMPv6 packets (port unreachable, fragmentation
	// needed, neighbour discovery).
	ICMP bool
}

// Default port numbers of a PortSIP PBX.
const (
	DefaultRTPLow  = 45000 // first port of the PBX media range
	DefaultRTPHigh = 65000 // last port of the PBX media range
)

// DefaultFilter returns the filter for a PortSIP PBX: SIP on 5060 (UDP),
// 5061 (TLS), 5063 (TCP), 5065 (WSS), 5066 (SBC UDP) and 5067 (SBC TCP),
// each matched on both TCP and UDP; RTP on UDP 45000-65000; and ICMP.
func DefaultFilter() Filter {
	return Filter{
		SIPPorts: []int{5060, 5061, 5063, 5065, 5066, 5067},
		RTPLow:   DefaultRTPLow,
		RTPHigh:  DefaultRTPHigh,
		ICMP:     true,
	}
}

func (f Filter) rtp() bool { return !f.NoRTP && f.RTPLow > 0 && f.RTPHigh > 0 }

// udp reports whether some rule matches UDP.
func (f Filter) udp() bool { return len(f.SIPPorts) > 0 || f.rtp() }

// InRTPRange reports whether port lies in the filter's RTP range.
func (f Filter) InRTPRange(port int) bool {
	return f.rtp() && port >= f.RTPLow && port <= f.RTPHigh
}

// Validate reports an error for ports out of range, an inverted RTP range,
// invalid host addresses, or a filter that selects nothing.
func (f Filter) Validate() error {
	for _, p := range f.SIPPorts {
		if p < 1 || p > 65535 {
			return fmt.Errorf("capture: SIP port %d out of range", p)
		}
	}
	if !f.NoRTP && (f.RTPLow != 0 || f.RTPHigh != 0) {
		if f.RTPLow < 1 || f.RTPHigh > 65535 || f.RTPLow > f.RTPHigh {
			return fmt.Errorf("capture: RTP port range %d-%d invalid", f.RTPLow, f.RTPHigh)
		}
	}
	for _, h := range f.Hosts {
		if !h.IsValid() {
			return errors.New("capture: invalid host address")
		}
	}
	if !f.All && !f.udp() && !f.ICMP {
		return errors.New("capture: filter selects no packets")
	}
	return nil
}

func (f Filter) hosts() (v4, v6 []netip.Addr) {
	for _, h := range f.Hosts {
		h = h.Unmap().WithZone("")
		if h.Is4() {
			v4 = append(v4, h)
		} else if h.Is6() {
			v6 = append(v6, h)
		}
	}
	return v4, v6
}

// String returns the tcpdump (pcap-filter) expression that selects the same
// packets, for manifests and for capture libraries that compile filters
// themselves. An empty string means every packet.
func (f Filter) String() string {
	var parts []string
	if !f.All {
		if len(f.SIPPorts) > 0 {
			ports := make([]string, len(f.SIPPorts))
			for i, p := range f.SIPPorts {
				ports[i] = "port " + strconv.Itoa(p)
			}
			parts = append(parts, "((udp or tcp) and ("+strings.Join(ports, " or ")+"))")
		}
		if f.rtp() {
			parts = append(parts, fmt.Sprintf("(udp and portrange %d-%d)", f.RTPLow, f.RTPHigh))
		}
		if f.udp() {
			parts = append(parts, "(ip[9] = 17 and ip[6:2] & 0x1fff != 0)")
		}
		switch {
		case f.udp() && f.ICMP:
			parts = append(parts, "(ip6[6] = 44 and (ip6[40] = 17 or ip6[40] = 58))")
		case f.udp():
			parts = append(parts, "(ip6[6] = 44 and ip6[40] = 17)")
		case f.ICMP:
			parts = append(parts, "(ip6[6] = 44 and ip6[40] = 58)")
		}
		if f.ICMP {
			parts = append(parts, "icmp or icmp6")
		}
		if len(parts) == 0 {
			parts = append(parts, "len < 0")
		}
	}
	expr := strings.Join(parts, " or ")
	v4, v6 := f.hosts()
	if len(f.Hosts) == 0 {
		return expr
	}
	var hs []string
	for _, h := range v4 {
		hs = append(hs, "ip host "+h.String())
	}
	for _, h := range v6 {
		hs = append(hs, "ip6 host "+h.String())
	}
	host := strings.Join(hs, " or ")
	if expr == "" {
		return host
	}
	return "(" + host + ") and (" + expr + ")"
}

// Program compiles the filter to a classic BPF program for packets of the
// given link type: layers.LinkTypeEthernet (untagged, or with one 802.1Q or
// 802.1ad tag), layers.LinkTypeLinuxSLL (Linux cooked capture, as from an
// unbound "any" socket), layers.LinkTypeRaw (packets start with the IPv4 or
// IPv6 header), layers.LinkTypeIPv4 and layers.LinkTypeIPv6. The program
// returns 0 for packets to drop and 262144 (the largest snap length) for
// packets to keep.
func (f Filter) Program(lt layers.LinkType) ([]bpf.RawInstruction, error) {
	return f.program(lt, 262144, false, false)
}

// program compiles the filter; accepted packets are cut to snap bytes and,
// with dropOutgoing, packets the host sends are rejected (for loopback,
// where the kernel shows every packet once outgoing and once incoming).
// With rtpHeaders, RTP packets matched by the RTP port range are cut in the
// kernel right after their RTP header and CSRC list (what [trimRTP] keeps),
// so the kernel ring holds only their headers; RTCP, packets that do not
// look like RTP and packets too short to tell are kept whole.
func (f Filter) program(lt layers.LinkType, snap uint32, dropOutgoing, rtpHeaders bool) ([]bpf.RawInstruction, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	c := &compiler{f: f, snap: snap, rtpHeaders: rtpHeaders && f.rtp()}
	c.v4, c.v6 = f.hosts()
	if dropOutgoing {
		c.op(bpf.LoadExtension{Num: bpf.ExtType})
		c.jif(bpf.JumpEqual, pktOutgoing, "reject", "")
	}
	switch {
	case f.All && len(f.Hosts) == 0:
		c.jmp("accept")
	case lt == layers.LinkTypeEthernet:
		c.op(bpf.LoadAbsolute{Off: 12, Size: 2})
		c.jif(bpf.JumpEqual, 0x8100, "vlan", "")
		c.jif(bpf.JumpEqual, 0x88a8, "vlan", "")
		c.ether(14)
		c.label("vlan")
		c.op(bpf.LoadAbsolute{Off: 16, Size: 2})
		c.ether(18)
	case lt == layers.LinkTypeLinuxSLL:
		c.op(bpf.LoadAbsolute{Off: 14, Size: 2})
		c.ether(16)
	case lt == layers.LinkTypeRaw:
		c.op(bpf.LoadAbsolute{Off: 0, Size: 1})
		c.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		l4, l6 := c.newLabel(), c.newLabel()
		c.jif(bpf.JumpEqual, 0x40, l4, "")
		c.jif(bpf.JumpEqual, 0x60, l6, "reject")
		c.label(l4)
		c.ipv4(0)
		c.label(l6)
		c.ipv6(0)
	case lt == layers.LinkTypeIPv4:
		c.ipv4(0)
	case lt == layers.LinkTypeIPv6:
		c.ipv6(0)
	default:
		return nil, fmt.Errorf("capture: no filter for link type %v", lt)
	}
	c.label("accept")
	c.op(bpf.RetConstant{Val: snap})
	c.label("reject")
	c.op(bpf.RetConstant{Val: 0})
	return c.assemble()
}

// pktOutgoing is the kernel's PACKET_OUTGOING packet type.
const pktOutgoing = 4

// item is one instruction; conditional and unconditional jumps name their
// targets by label, "" meaning the next instruction.
type item struct {
	ins  bpf.Instruction
	t, f string
	jump bool
}

// compiler is a small classic-BPF assembler with labels.
type compiler struct {
	f          Filter
	v4, v6     []netip.Addr
	items      []item
	labels     map[string]int
	n          int
	snap       uint32
	rtpHeaders bool
	rtp        string // where an RTP port match jumps: "accept" or an rtpCut label
}

func (c *compiler) op(i bpf.Instruction) { c.items = append(c.items, item{ins: i}) }

func (c *compiler) jif(cond bpf.JumpTest, val uint32, t, f string) {
	c.items = append(c.items, item{ins: bpf.JumpIf{Cond: cond, Val: val}, t: t, f: f, jump: true})
}

func (c *compiler) jmp(t string) {
	c.items = append(c.items, item{ins: bpf.Jump{}, t: t, jump: true})
}

func (c *compiler) label(name string) {
	if c.labels == nil {
		c.labels = map[string]int{}
	}
	c.labels[name] = len(c.items)
}

func (c *compiler) newLabel() string {
	c.n++
	return "L" + strconv.Itoa(c.n)
}

func (c *compiler) assemble() ([]bpf.RawInstruction, error) {
	target := func(i int, name string) (uint32, error) {
		if name == "" {
			return 0, nil
		}
		pos, ok := c.labels[name]
		if !ok {
			return 0, fmt.Errorf("capture: filter label %q undefined", name)
		}
		if pos <= i {
			return 0, errors.New("capture: filter jumps backwards")
		}
		return uint32(pos - i - 1), nil
	}
	prog := make([]bpf.Instruction, len(c.items))
	for i, it := range c.items {
		if !it.jump {
			prog[i] = it.ins
			continue
		}
		t, err := target(i, it.t)
		if err != nil {
			return nil, err
		}
		if j, ok := it.ins.(bpf.JumpIf); ok {
			fl, err := target(i, it.f)
			if err != nil {
				return nil, err
			}
			if t > 255 || fl > 255 {
				return nil, errors.New("capture: filter too large (jump out of range)")
			}
			j.SkipTrue, j.SkipFalse = uint8(t), uint8(fl)
			prog[i] = j
		} else {
			prog[i] = bpf.Jump{Skip: t}
		}
	}
	if len(prog) > 4096 {
		return nil, errors.New("capture: filter too large")
	}
	return bpf.Assemble(prog)
}

// ether dispatches on the EtherType in A; the network header starts at off.
func (c *compiler) ether(off uint32) {
	l4, l6 := c.newLabel(), c.newLabel()
	c.jif(bpf.JumpEqual, 0x0800, l4, "")
	c.jif(bpf.JumpEqual, 0x86dd, l6, "reject")
	c.label(l4)
	c.ipv4(off)
	c.label(l6)
	c.ipv6(off)
}

// ports checks the port in A against the SIP ports and, for UDP, the RTP
// range, jumping to accept on a match and falling through otherwise.
func (c *compiler) ports(udp bool) {
	for _, p := range c.f.SIPPorts {
		c.jif(bpf.JumpEqual, uint32(p), "accept", "")
	}
	if udp && c.f.rtp() {
		next := c.newLabel()
		c.jif(bpf.JumpGreaterOrEqual, uint32(c.f.RTPLow), "", next)
		c.jif(bpf.JumpGreaterThan, uint32(c.f.RTPHigh), next, c.rtp)
		c.label(next)
	}
}

// rtpCut returns the length to keep of a UDP datagram matched by the RTP
// range whose UDP header starts at X+off: up to the end of the RTP header
// and CSRC list when the payload looks like RTP ([rtpHeaderLen]: at least
// 12 bytes, version 2, payload type outside RTCP's 192-223), else the whole
// packet. A non-zero ipHeader is loaded into X first (IPv6); IPv4 comes
// with its header length in X. Every load is checked against the packet
// length first: a load past the end would make the kernel drop the packet.
func (c *compiler) rtpCut(label string, off, ipHeader uint32) {
	c.label(label)
	if ipHeader != 0 {
		c.op(bpf.LoadConstant{Dst: bpf.RegX, Val: ipHeader})
	}
	base := off + 8 // the RTP header, relative to X
	c.op(bpf.LoadExtension{Num: bpf.ExtLen})
	c.op(bpf.ALUOpX{Op: bpf.ALUOpSub})
	c.jif(bpf.JumpGreaterOrEqual, base+12, "", "accept")
	c.op(bpf.LoadIndirect{Off: base, Size: 1})
	c.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xc0})
	c.jif(bpf.JumpEqual, 0x80, "", "accept")
	c.op(bpf.LoadIndirect{Off: base + 1, Size: 1})
	rtp := c.newLabel()
	c.jif(bpf.JumpGreaterOrEqual, 192, "", rtp)
	c.jif(bpf.JumpGreaterThan, 223, "", "accept")
	c.label(rtp)
	c.op(bpf.LoadIndirect{Off: base, Size: 1})
	c.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	c.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	c.op(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	c.op(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: base + 12})
	// A header running past the packet's end keeps the whole packet, as
	// the kernel never keeps more than the packet; past snap keeps snap.
	c.jif(bpf.JumpGreaterThan, c.snap, "accept", "")
	c.op(bpf.RetA{})
}

// ipv4 matches an IPv4 header at off; it always ends in a jump.
func (c *compiler) ipv4(off uint32) {
	f := c.f
	if len(f.Hosts) > 0 {
		if len(c.v4) == 0 {
			c.jmp("reject")
			return
		}
		ok := c.newLabel()
		for _, a := range []uint32{12, 16} {
			c.op(bpf.LoadAbsolute{Off: off + a, Size: 4})
			for _, h := range c.v4 {
				b := h.As4()
				c.jif(bpf.JumpEqual, uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), ok, "")
			}
		}
		c.jmp("reject")
		c.label(ok)
	}
	if f.All {
		c.jmp("accept")
		return
	}
	udp, tcp := c.newLabel(), c.newLabel()
	c.rtp = "accept"
	var cut string
	if c.rtpHeaders {
		cut = c.newLabel()
		c.rtp = cut
	}
	c.op(bpf.LoadAbsolute{Off: off + 9, Size: 1})
	if f.udp() {
		c.jif(bpf.JumpEqual, 17, udp, "")
	}
	if len(f.SIPPorts) > 0 {
		c.jif(bpf.JumpEqual, 6, tcp, "")
	}
	if f.ICMP {
		c.jif(bpf.JumpEqual, 1, "accept", "")
	}
	c.jmp("reject")
	for _, proto := range []string{udp, tcp} {
		isUDP := proto == udp
		if (isUDP && !f.udp()) || (!isUDP && len(f.SIPPorts) == 0) {
			continue
		}
		c.label(proto)
		c.op(bpf.LoadAbsolute{Off: off + 6, Size: 2})
		if isUDP {
			c.jif(bpf.JumpBitsSet, 0x1fff, "accept", "")
		} else {
			c.jif(bpf.JumpBitsSet, 0x1fff, "reject", "")
		}
		c.op(bpf.LoadMemShift{Off: off})
		c.op(bpf.LoadIndirect{Off: off, Size: 2})
		c.ports(isUDP)
		c.op(bpf.LoadIndirect{Off: off + 2, Size: 2})
		c.ports(isUDP)
		c.jmp("reject")
	}
	if cut != "" {
		// X still holds the IPv4 header length.
		c.rtpCut(cut, off, 0)
	}
}

// ipv6 matches an IPv6 header at off; it always ends in a jump.
func (c *compiler) ipv6(off uint32) {
	f := c.f
	if len(f.Hosts) > 0 {
		if len(c.v6) == 0 {
			c.jmp("reject")
			return
		}
		ok := c.newLabel()
		for _, a := range []uint32{8, 24} {
			for _, h := range c.v6 {
				b := h.As16()
				miss := c.newLabel()
				for w := uint32(0); w < 4; w++ {
					c.op(bpf.LoadAbsolute{Off: off + a + 4*w, Size: 4})
					v := uint32(b[4*w])<<24 | uint32(b[4*w+1])<<16 | uint32(b[4*w+2])<<8 | uint32(b[4*w+3])
					if w < 3 {
						c.jif(bpf.JumpEqual, v, "", miss)
					} else {
						c.jif(bpf.JumpEqual, v, ok, miss)
					}
				}
				c.label(miss)
			}
		}
		c.jmp("reject")
		c.label(ok)
	}
	if f.All {
		c.jmp("accept")
		return
	}
	udp, tcp, frag := c.newLabel(), c.newLabel(), c.newLabel()
	c.rtp = "accept"
	var cut string
	if c.rtpHeaders {
		cut = c.newLabel()
		c.rtp = cut
	}
	c.op(bpf.LoadAbsolute{Off: off + 6, Size: 1})
	if f.udp() {
		c.jif(bpf.JumpEqual, 17, udp, "")
	}
	if len(f.SIPPorts) > 0 {
		c.jif(bpf.JumpEqual, 6, tcp, "")
	}
	if f.ICMP {
		c.jif(bpf.JumpEqual, 58, "accept", "")
	}
	c.jif(bpf.JumpEqual, 44, frag, "reject")
	c.label(frag)
	c.op(bpf.LoadAbsolute{Off: off + 40, Size: 1})
	if f.udp() {
		c.jif(bpf.JumpEqual, 17, "accept", "")
	}
	if f.ICMP {
		c.jif(bpf.JumpEqual, 58, "accept", "")
	}
	c.jmp("reject")
	for _, proto := range []string{udp, tcp} {
		isUDP := proto == udp
		if (isUDP && !f.udp()) || (!isUDP && len(f.SIPPorts) == 0) {
			continue
		}
		c.label(proto)
		c.op(bpf.LoadAbsolute{Off: off + 40, Size: 2})
		c.ports(isUDP)
		c.op(bpf.LoadAbsolute{Off: off + 42, Size: 2})
		c.ports(isUDP)
		c.jmp("reject")
	}
	if cut != "" {
		c.rtpCut(cut, off, 40)
	}
}
