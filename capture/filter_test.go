package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pbxagent/pbxagent/internal/testutil"
	"golang.org/x/net/bpf"

	"github.com/pbxagent/pbxagent/internal/pkttest"
)

// Hand-built packets for the filter tests.

var (
	addrA  = netip.MustParseAddr("192.0.2.10")
	addrB  = netip.MustParseAddr("198.51.100.20")
	addr6A = netip.MustParseAddr("2001:db8::10")
	addr6B = netip.MustParseAddr("2001:db8::20")
)

// l4 builds a UDP or TCP header (ports only matter) or an ICMP message.
func l4(proto byte, sport, dport uint16) []byte {
	switch proto {
	case 17:
		b := make([]byte, 8+12)
		binary.BigEndian.PutUint16(b[0:], sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		b[8] = 0x80 // RTP version 2
		return b
	case 6:
		b := make([]byte, 20)
		binary.BigEndian.PutUint16(b[0:], sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		b[12] = 5 << 4
		return b
	}
	return []byte{3, 3, 0, 0, 0, 0, 0, 0} // ICMP(v6) message
}

// ip4 builds an IPv4 packet; fragOff is the fragment offset in 8-byte units;
// opts adds IPv4 options (multiple of 4 bytes).
func ip4(src, dst netip.Addr, proto byte, fragOff uint16, opts int, payload []byte) []byte {
	h := pkttest.IPv4{Src: src, Dst: dst, Proto: proto, FragOff: int(fragOff&0x1fff) * 8}
	if opts > 0 {
		h.Options = make([]byte, opts)
	}
	return h.Build(payload)
}

// ip6 builds an IPv6 packet; with frag a fragment header (offset fragOff)
// precedes the payload.
func ip6(src, dst netip.Addr, proto byte, frag bool, fragOff uint16, payload []byte) []byte {
	if frag {
		return pkttest.IP6(src, dst, pkttest.ProtoFragment, pkttest.IP6Fragment(proto, int(fragOff)*8, false, 0, payload))
	}
	return pkttest.IP6(src, dst, proto, payload)
}

// frame wraps an IP packet for a link type; vlan adds an 802.1Q tag
// (Ethernet only).
func frame(lt layers.LinkType, vlan bool, pkt []byte) []byte {
	switch lt {
	case layers.LinkTypeEthernet:
		if vlan {
			return pkttest.EthernetIP(pkt, 100)
		}
		return pkttest.EthernetIP(pkt)
	case layers.LinkTypeLinuxSLL:
		return pkttest.SLL(pkt)
	}
	return pkt
}

type tcase struct {
	name string
	pkt  []byte // IP packet
	want bool   // under DefaultFilter
}

func cases() []tcase {
	u := func(s, d uint16) []byte { return l4(17, s, d) }
	t := func(s, d uint16) []byte { return l4(6, s, d) }
	return []tcase{
		{"v4 udp sip dst", ip4(addrA, addrB, 17, 0, 0, u(40000, 5060)), true},
		{"v4 udp sip src", ip4(addrA, addrB, 17, 0, 0, u(5060, 40000)), true},
		{"v4 udp 5066", ip4(addrA, addrB, 17, 0, 0, u(1234, 5066)), true},
		{"v4 tcp 5061", ip4(addrA, addrB, 6, 0, 0, t(5061, 443)), true},
		{"v4 tcp 5063 with options", ip4(addrA, addrB, 6, 0, 8, t(33000, 5063)), true},
		{"v4 udp sip with options", ip4(addrA, addrB, 17, 0, 12, u(33000, 5060)), true},
		{"v4 tcp 5067", ip4(addrA, addrB, 6, 0, 0, t(33000, 5067)), true},
		{"v4 tcp 5064 (not sip)", ip4(addrA, addrB, 6, 0, 0, t(33000, 5064)), false},
		{"v4 udp rtp low", ip4(addrA, addrB, 17, 0, 0, u(10000, 45000)), true},
		{"v4 udp rtp high", ip4(addrA, addrB, 17, 0, 0, u(65000, 10000)), true},
		{"v4 udp below rtp", ip4(addrA, addrB, 17, 0, 0, u(10000, 44999)), false},
		{"v4 udp above rtp", ip4(addrA, addrB, 17, 0, 0, u(65001, 10000)), false},
		{"v4 tcp in rtp range", ip4(addrA, addrB, 6, 0, 0, t(50000, 50001)), false},
		{"v4 udp dns", ip4(addrA, addrB, 17, 0, 0, u(53, 33333)), false},
		{"v4 tcp https", ip4(addrA, addrB, 6, 0, 0, t(443, 33333)), false},
		{"v4 icmp", ip4(addrA, addrB, 1, 0, 0, l4(1, 0, 0)), true},
		{"v4 igmp", ip4(addrA, addrB, 2, 0, 0, l4(2, 0, 0)), false},
		{"v4 udp non-first fragment", ip4(addrA, addrB, 17, 185, 0, make([]byte, 32)), true},
		{"v4 tcp non-first fragment", ip4(addrA, addrB, 6, 185, 0, make([]byte, 32)), false},
		{"v6 udp sip", ip6(addr6A, addr6B, 17, false, 0, u(40000, 5060)), true},
		{"v6 tcp 5065", ip6(addr6A, addr6B, 6, false, 0, t(5065, 40000)), true},
		{"v6 udp rtp", ip6(addr6A, addr6B, 17, false, 0, u(50000, 50002)), true},
		{"v6 udp dns", ip6(addr6A, addr6B, 17, false, 0, u(53, 40000)), false},
		{"v6 tcp in rtp range", ip6(addr6A, addr6B, 6, false, 0, t(50000, 50001)), false},
		{"v6 icmp6", ip6(addr6A, addr6B, 58, false, 0, l4(58, 0, 0)), true},
		{"v6 udp first fragment", ip6(addr6A, addr6B, 17, true, 0, u(40000, 5060)), true},
		{"v6 udp later fragment", ip6(addr6A, addr6B, 17, true, 100, make([]byte, 16)), true},
		{"v6 tcp fragment", ip6(addr6A, addr6B, 6, true, 100, make([]byte, 16)), false},
		{"v6 hop-by-hop", ip6(addr6A, addr6B, 0, false, 0, make([]byte, 16)), false},
	}
}

func runProg(t *testing.T, raw []bpf.RawInstruction, pkt []byte) bool {
	t.Helper()
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble")
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return n > 0
}

var linkTypes = []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw}

func TestProgramDefaultFilter(t *testing.T) {
	f := DefaultFilter()
	for _, lt := range linkTypes {
		prog, err := f.Program(lt)
		if err != nil {
			t.Fatalf("%v: %v", lt, err)
		}
		for _, c := range cases() {
			if got := runProg(t, prog, frame(lt, false, c.pkt)); got != c.want {
				t.Errorf("%v %s: got %v, want %v", lt, c.name, got, c.want)
			}
			if lt == layers.LinkTypeEthernet {
				if got := runProg(t, prog, frame(lt, true, c.pkt)); got != c.want {
					t.Errorf("%v vlan %s: got %v, want %v", lt, c.name, got, c.want)
				}
			}
		}
		// Not IP at all (ARP on Ethernet/SLL, garbage on raw).
		arp := make([]byte, 28)
		pkt := frame(lt, false, append([]byte{0x00}, arp...))
		if lt != layers.LinkTypeRaw {
			binary.BigEndian.PutUint16(pkt[len(pkt)-29-2:], 0x0806)
		}
		if runProg(t, prog, pkt) {
			t.Errorf("%v: non-IP packet accepted", lt)
		}
		// Truncated packets are rejected, never accepted by accident.
		full := frame(lt, false, ip4(addrA, addrB, 17, 0, 0, l4(17, 1, 5060)))
		for n := 0; n < len(full)-16; n++ {
			if runProg(t, prog, full[:n]) {
				t.Errorf("%v: truncated packet (%d bytes) accepted", lt, n)
			}
		}
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeIPv4, layers.LinkTypeIPv6} {
		prog, err := f.Program(lt)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases() {
			v := 4
			if lt == layers.LinkTypeIPv6 {
				v = 6
			}
			if int(c.pkt[0]>>4) != v {
				continue
			}
			if got := runProg(t, prog, c.pkt); got != c.want {
				t.Errorf("%v %s: got %v, want %v", lt, c.name, got, c.want)
			}
		}
	}
	if _, err := f.Program(layers.LinkTypeFDDI); err == nil {
		t.Error("unsupported link type compiled")
	}
}

func TestProgramVariants(t *testing.T) {
	sip := ip4(addrA, addrB, 17, 0, 0, l4(17, 40000, 5060))
	rtp := ip4(addrA, addrB, 17, 0, 0, l4(17, 50000, 50002))
	icmp := ip4(addrA, addrB, 1, 0, 0, l4(1, 0, 0))
	dns := ip4(addrA, addrB, 17, 0, 0, l4(17, 53, 40000))
	other := ip4(netip.MustParseAddr("203.0.113.1"), addrB, 17, 0, 0, l4(17, 40000, 5060))
	sip6 := ip6(addr6A, addr6B, 17, false, 0, l4(17, 40000, 5060))
	tests := []struct {
		name string
		f    Filter
		pkts [][]byte
		want []bool
	}{
		{"no rtp", Filter{SIPPorts: []int{5060}, RTPLow: 45000, RTPHigh: 65000, NoRTP: true}, [][]byte{sip, rtp, icmp}, []bool{true, false, false}},
		{"rtp only", Filter{RTPLow: 45000, RTPHigh: 65000}, [][]byte{sip, rtp, icmp}, []bool{false, true, false}},
		{"icmp only", Filter{ICMP: true}, [][]byte{sip, rtp, icmp}, []bool{false, false, true}},
		{"all", Filter{All: true}, [][]byte{sip, dns, icmp, other}, []bool{true, true, true, true}},
		{"host v4", Filter{SIPPorts: []int{5060}, Hosts: []netip.Addr{addrA}}, [][]byte{sip, other, sip6}, []bool{true, false, false}},
		{"host dst", Filter{SIPPorts: []int{5060}, Hosts: []netip.Addr{addrB}}, [][]byte{sip, other, sip6}, []bool{true, true, false}},
		{"host v6", Filter{SIPPorts: []int{5060}, Hosts: []netip.Addr{addr6B}}, [][]byte{sip, sip6}, []bool{false, true}},
		{"all with host", Filter{All: true, Hosts: []netip.Addr{addrA, addr6A}}, [][]byte{dns, other, sip6}, []bool{true, false, true}},
	}
	for _, tt := range tests {
		for _, lt := range linkTypes {
			prog, err := tt.f.Program(lt)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			for i, p := range tt.pkts {
				if got := runProg(t, prog, frame(lt, false, p)); got != tt.want[i] {
					t.Errorf("%s %v packet %d: got %v, want %v", tt.name, lt, i, got, tt.want[i])
				}
			}
		}
	}
	if err := (Filter{}).Validate(); err == nil {
		t.Error("empty filter validated")
	}
	if err := (Filter{RTPLow: 6000, RTPHigh: 5000}).Validate(); err == nil {
		t.Error("inverted range validated")
	}
	if err := (Filter{SIPPorts: []int{70000}}).Validate(); err == nil {
		t.Error("bad port validated")
	}
}

func TestProgramLoopbackPrefix(t *testing.T) {
	prog, err := DefaultFilter().program(layers.LinkTypeEthernet, 1500, true, false)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := bpf.Disassemble(prog)
	if ext, ok := ins[0].(bpf.LoadExtension); !ok || ext.Num != bpf.ExtType {
		t.Fatalf("first instruction %v, want packet type load", ins[0])
	}
	if r, ok := ins[len(ins)-2].(bpf.RetConstant); !ok || r.Val != 1500 {
		t.Fatalf("accept returns %v, want snap length 1500", ins[len(ins)-2])
	}
}

func TestFilterString(t *testing.T) {
	want := "((udp or tcp) and (port 5060 or port 5061 or port 5063 or port 5065 or port 5066 or port 5067))" +
		" or (udp and portrange 45000-65000)" +
		" or (ip[9] = 17 and ip[6:2] & 0x1fff != 0)" +
		" or (ip6[6] = 44 and (ip6[40] = 17 or ip6[40] = 58))" +
		" or icmp or icmp6"
	if got := DefaultFilter().String(); got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
	f := Filter{All: true, Hosts: []netip.Addr{addrA, addr6A}}
	if got := f.String(); got != "ip host 192.0.2.10 or ip6 host 2001:db8::10" {
		t.Errorf("all+hosts: %s", got)
	}
	if got := (Filter{All: true}).String(); got != "" {
		t.Errorf("all: %q", got)
	}
}

// TestProgramMatchesTcpdump compiles String() with tcpdump (libpcap) and
// checks that libpcap's program and Program agree on every test packet.
func TestProgramMatchesTcpdump(t *testing.T) {
	tcpdump := testutil.NeedTool(t, "tcpdump")
	filters := map[string]Filter{
		"default": DefaultFilter(),
		"no rtp":  {SIPPorts: []int{5060, 5061}, NoRTP: true},
		"icmp":    {ICMP: true},
		"hosts":   {SIPPorts: []int{5060}, RTPLow: 45000, RTPHigh: 65000, Hosts: []netip.Addr{addrA, addr6B}},
	}
	dlt := map[layers.LinkType]string{layers.LinkTypeEthernet: "EN10MB", layers.LinkTypeLinuxSLL: "LINUX_SLL", layers.LinkTypeRaw: "RAW"}
	for name, f := range filters {
		for _, lt := range linkTypes {
			ours, err := f.Program(lt)
			if err != nil {
				t.Fatal(err)
			}
			theirs := tcpdumpProgram(t, tcpdump, lt, f.String())
			for _, c := range cases() {
				for _, p := range [][]byte{c.pkt, hostSwap(c.pkt)} {
					pkt := frame(lt, false, p)
					if a, b := runProg(t, ours, pkt), runProg(t, theirs, pkt); a != b {
						t.Errorf("%s %v (%s) %s: Program %v, tcpdump %v", name, lt, dlt[lt], c.name, a, b)
					}
				}
			}
		}
	}
}

// hostSwap replaces the source address of an IP packet by addrA/addr6B's
// neighbour so host filters see both outcomes.
func hostSwap(p []byte) []byte {
	q := append([]byte(nil), p...)
	if q[0]>>4 == 4 {
		b := addrB.As4()
		copy(q[12:], b[:]) // src = dst
		copy(q[16:], []byte{203, 0, 113, 1})
	} else {
		copy(q[8:24], make([]byte, 16))
	}
	return q
}

func tcpdumpProgram(t *testing.T, tcpdump string, lt layers.LinkType, expr string) []bpf.RawInstruction {
	t.Helper()
	file := filepath.Join(t.TempDir(), "empty.pcap")
	fh, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := pcapgo.NewWriter(fh).WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	out, err := exec.Command(tcpdump, "-ddd", "-r", file, expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd %q: %v", expr, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var prog []bpf.RawInstruction
	for _, l := range lines[1:] {
		var op, jt, jf, k uint64
		if _, err := fmt.Sscan(l, &op, &jt, &jf, &k); err != nil {
			t.Fatalf("tcpdump output %q: %v", l, err)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)})
	}
	if n, _ := strconv.Atoi(lines[0]); n != len(prog) {
		t.Fatalf("tcpdump program length %d, parsed %d", n, len(prog))
	}
	return prog
}

// runLen runs a program and returns how many bytes of pkt the kernel would
// keep (0: dropped).
func runLen(t *testing.T, raw []bpf.RawInstruction, pkt []byte) int {
	t.Helper()
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble")
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return min(n, len(pkt))
}

// TestProgramCutsRTPHeaders checks the kernel-side RTP cut against the
// user-space trim: the same packets are accepted as without the cut, an RTP
// packet is kept exactly up to what trimRTP keeps, every other packet
// (SIP, RTCP, STUN, fragments, short or odd payloads) whole, and trimming
// the kernel's cut gives what trimming the whole packet gives.
func TestProgramCutsRTPHeaders(t *testing.T) {
	f := DefaultFilter()
	rtcp := rtpPacket(0)
	rtcp[29] = 200
	stun := rtpPacket(0)
	stun[28] = 0
	ext := rtpPacket(2)
	ext[28] |= 0x10 // extension bit: the extension is payload to trimRTP
	pkts := [][]byte{rtpPacket(0), rtpPacket(1), rtpPacket(15), ext, rtcp, stun,
		ip6(addr6A, addr6B, 17, false, 0, rtpPacket(3)[20:]),
		ip4(addrA, addrB, 17, 0, 8, rtpPacket(2)[20:]), // IPv4 options
		ip4(addrA, addrB, 17, 100, 0, rtpPacket(0)[20:]),
		ip6(addr6A, addr6B, 17, true, 0, rtpPacket(0)[20:]),
		ip4(addrA, addrB, 17, 0, 0, append(l4(17, 40000, 5060), make([]byte, 300)...)),
		ip4(addrA, addrB, 17, 0, 0, append(l4(17, 5060, 50000)[:8], []byte("INVITE sip:1@x SIP/2.0\r\n")...)),
		// RTP-looking payload between a SIP port and the RTP range: the
		// SIP port keeps it whole in the kernel, trimRTP trims it.
		ip4(addrA, addrB, 17, 0, 0, append(l4(17, 5060, 50000), make([]byte, 160)...)),
	}
	// RTP-range datagrams with every payload length up to a full header
	// with 15 CSRCs, each claiming 15 CSRCs: headers running past the end.
	for n := 0; n <= 12+60; n++ {
		u := l4(17, 50000, 50002)[:8]
		p := make([]byte, n)
		if n > 0 {
			p[0] = 0x8f
		}
		pkts = append(pkts, ip4(addrA, addrB, 17, 0, 0, append(u, p...)), ip6(addr6A, addr6B, 17, false, 0, append(u, p...)))
	}
	for _, c := range cases() {
		pkts = append(pkts, c.pkt)
	}
	for _, lt := range append(linkTypes, layers.LinkTypeIPv4, layers.LinkTypeIPv6) {
		whole, err := f.program(lt, 262144, false, false)
		if err != nil {
			t.Fatal(err)
		}
		cut, err := f.program(lt, 262144, false, true)
		if err != nil {
			t.Fatal(err)
		}
		for i, ip := range pkts {
			if (lt == layers.LinkTypeIPv4 && ip[0]>>4 != 4) || (lt == layers.LinkTypeIPv6 && ip[0]>>4 != 6) {
				continue
			}
			for _, vlan := range []bool{false, true} {
				if vlan && lt != layers.LinkTypeEthernet {
					continue
				}
				pkt := frame(lt, vlan, ip)
				want := runLen(t, whole, pkt)
				got := runLen(t, cut, pkt)
				trim, rtp := trimRTP(f, lt, pkt)
				switch {
				case (want == 0) != (got == 0):
					t.Errorf("%v vlan=%v packet %d: accepted %v with the cut, %v without", lt, vlan, i, got > 0, want > 0)
				case want == 0:
				case rtp && (got < trim || got > trim && !sipPort(f, lt, pkt)):
					t.Errorf("%v vlan=%v packet %d (RTP): kernel keeps %d bytes, trimRTP %d", lt, vlan, i, got, trim)
				case !rtp && got != len(pkt):
					t.Errorf("%v vlan=%v packet %d: kernel keeps %d of %d bytes of a packet trimRTP keeps whole", lt, vlan, i, got, len(pkt))
				}
				if again, _ := trimRTP(f, lt, pkt[:got]); got > 0 && again != trim {
					t.Errorf("%v vlan=%v packet %d: trimming the kernel's %d bytes keeps %d, the whole packet %d", lt, vlan, i, got, again, trim)
				}
			}
		}
		// Truncated frames of an RTP packet are accepted exactly as
		// without the cut (a load past the end must not drop them).
		full := frame(lt, false, rtpPacket(4))
		if lt == layers.LinkTypeIPv6 {
			full = ip6(addr6A, addr6B, 17, false, 0, rtpPacket(4)[20:])
		}
		for n := range len(full) {
			if (runLen(t, whole, full[:n]) == 0) != (runLen(t, cut, full[:n]) == 0) {
				t.Errorf("%v: truncated RTP packet (%d bytes) accepted differently with the cut", lt, n)
			}
		}
	}
	// A snap length shorter than the RTP headers still wins.
	prog, err := f.program(layers.LinkTypeRaw, 30, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := runLen(t, prog, rtpPacket(0)); got != 30 {
		t.Errorf("snap 30: kept %d bytes", got)
	}
}

// sipPort reports whether a UDP packet has a SIP port of f.
func sipPort(f Filter, lt layers.LinkType, pkt []byte) bool {
	_, src, dst, ok := udpPayload(lt, pkt)
	return ok && (slices.Contains(f.SIPPorts, int(src)) || slices.Contains(f.SIPPorts, int(dst)))
}
