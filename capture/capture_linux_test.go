//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pbxagent/pbxagent/internal/testutil"
)

// udpPort listens on the first free UDP port of 127.0.0.1 in [lo, hi] and
// discards what arrives, so datagrams sent there draw no ICMP errors.
func udpPort(t *testing.T, lo, hi int) (*net.UDPConn, int) {
	t.Helper()
	for p := lo; p <= hi; p++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			continue
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
		return c, p
	}
	t.Fatalf("no free UDP port in %d-%d", lo, hi)
	return nil, 0
}

// liveRun starts Run and returns once capture is armed; done is closed when
// Run has returned.
func liveRun(t *testing.T, opt Options) (stop func() (Stats, []byte, error), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var buf bytes.Buffer
	armed := make(chan struct{})
	var once sync.Once
	type result struct {
		st  Stats
		err error
	}
	res := make(chan result, 1)
	finished := make(chan struct{})
	go func() {
		st, err := Run(ctx, &buf, opt, func(Stats) { once.Do(func() { close(armed) }) })
		once.Do(func() { close(armed) })
		res <- result{st, err}
		close(finished)
	}()
	select {
	case <-armed:
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("capture did not start")
	}
	return func() (Stats, []byte, error) {
		cancel()
		select {
		case r := <-res:
			return r.st, buf.Bytes(), r.err
		case <-time.After(5 * time.Second):
			t.Fatal("capture did not stop")
			return Stats{}, nil, nil
		}
	}, finished
}

// udpPorts lists the UDP source and destination ports of the packets of a
// pcap or pcapng stream, with the packets' direction flags (pcapng only).
func udpPorts(t *testing.T, r io.Reader) (ports [][2]int, flags []uint32) {
	t.Helper()
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	var next func() ([]byte, layers.LinkType, uint32, error)
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		next = func() ([]byte, layers.LinkType, uint32, error) {
			data, _, opts, err := ng.ReadPacketDataWithOptions()
			var fl uint32
			if opts.Flags != nil {
				fl = opts.Flags.ToUint32()
			}
			return data, ng.LinkType(), fl, err
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		next = func() ([]byte, layers.LinkType, uint32, error) {
			data, _, err := pr.ReadPacketData()
			return data, pr.LinkType(), 0, err
		}
	}
	for {
		data, lt, fl, err := next()
		if errors.Is(err, io.EOF) {
			return ports, flags
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, s, d, ok := udpPayload(lt, data); ok {
			ports = append(ports, [2]int{int(s), int(d)})
			flags = append(flags, fl)
		}
	}
}

// startTcpdump runs tcpdump -i lo -w on the filter and returns a function
// that stops it and returns the file, or nil when tcpdump is missing.
func startTcpdump(t *testing.T, expr string) func() []byte {
	t.Helper()
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Log("tcpdump not installed; skipping comparison")
		return nil
	}
	file := filepath.Join(t.TempDir(), "tcpdump.pcap")
	cmd := exec.Command(path, "-i", "lo", "-n", "--immediate-mode", "-B", "16384", "-U", "-w", file, expr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			t.Logf("tcpdump: %s", sc.Text())
			if !closed && strings.Contains(sc.Text(), "listening on") {
				close(ready)
				closed = true
			}
		}
		if !closed {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("tcpdump did not start")
	}
	return func() []byte {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("tcpdump output: %v", err)
		}
		return b
	}
}

func TestLiveLoopback(t *testing.T) {
	testutil.NeedRoot(t) // AF_PACKET sockets
	const n = 200
	_, sipPort := udpPort(t, 5060, 5060)
	_, otherPort := udpPort(t, 40100, 40199)
	sender, srcPort := udpPort(t, 40200, 40299)
	f := DefaultFilter()
	if sipPort != 5060 {
		t.Fatal("port 5060 busy")
	}

	stopDump := startTcpdump(t, f.String())
	stop, _ := liveRun(t, Options{Interfaces: []string{"lo"}, Filter: f, ProgressInterval: 200 * time.Millisecond})
	for i := range n {
		msg := []byte(fmt.Sprintf("OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nCSeq: %d OPTIONS\r\n\r\n", i))
		if _, err := sender.WriteToUDP(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}); err != nil {
			t.Fatal(err)
		}
		if _, err := sender.WriteToUDP(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: otherPort}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			// tcpdump in immediate mode writes packet by packet; pace the
			// burst so that the reference capture loses nothing either.
			time.Sleep(2 * time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond)
	st, out, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	var dump []byte
	if stopDump != nil {
		dump = stopDump()
	}

	ports, flags := udpPorts(t, bytes.NewReader(out))
	got := 0
	for i, p := range ports {
		if p[0] == srcPort && p[1] == 5060 {
			got++
			if flags[i]&3 != 1 {
				t.Errorf("packet %d direction flags %#x, want inbound", i, flags[i])
			}
		}
		if p[0] == otherPort || p[1] == otherPort {
			t.Errorf("packet to unrelated port %d captured", otherPort)
		}
	}
	if got != n {
		t.Errorf("captured %d datagrams to 5060, sent %d (duplicates or losses)", got, n)
	}
	if st.Written < n || st.PerInterface["lo"].Written != st.Written || st.KernelDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.StopReason != context.Canceled.Error() || st.Truncated {
		t.Errorf("stop reason %q truncated %v", st.StopReason, st.Truncated)
	}
	if dump != nil {
		tp, _ := udpPorts(t, bytes.NewReader(dump))
		tn := 0
		for _, p := range tp {
			if p[0] == srcPort && p[1] == 5060 {
				tn++
			}
		}
		if tn != got {
			t.Errorf("tcpdump captured %d datagrams, Run captured %d", tn, got)
		}
	}
	rows := tsharkFields(t, out, "frame.interface_name", "sip.CSeq.seq")
	if rows != nil {
		seen := map[string]bool{}
		for _, r := range rows {
			if r[0] != "lo" {
				t.Fatalf("interface %q", r[0])
			}
			if r[1] != "" {
				if seen[r[1]] {
					t.Errorf("CSeq %s twice", r[1])
				}
				seen[r[1]] = true
			}
		}
		if len(seen) != n {
			t.Errorf("tshark decoded %d SIP requests, want %d", len(seen), n)
		}
	}
}

func TestLiveLimits(t *testing.T) {
	testutil.NeedRoot(t) // AF_PACKET sockets
	_, rtpPort := udpPort(t, 45000, 45100)
	sender, _ := udpPort(t, 40300, 40399)
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"packets", Options{MaxPackets: 10}},
		{"bytes", Options{MaxBytes: 4096, NoRTPPayload: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Interfaces = []string{"lo"}
			tc.opt.Filter = DefaultFilter()
			stop, done := liveRun(t, tc.opt)
			payload := make([]byte, 172)
			payload[0] = 0x80
			timeout := time.After(3 * time.Second)
		send:
			for {
				for range 20 {
					_, _ = sender.WriteToUDP(payload, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: rtpPort})
				}
				select {
				case <-done: // Run stops by itself once the limit is reached.
					break send
				case <-timeout:
					t.Fatal("limit did not stop the capture")
				case <-time.After(10 * time.Millisecond):
				}
			}
			st, out, err := stop()
			if err != nil {
				t.Fatal(err)
			}
			if !st.Truncated || !strings.HasPrefix(st.StopReason, "max "+tc.name) {
				t.Fatalf("stats %+v", st)
			}
			if tc.opt.MaxPackets > 0 && st.Written != tc.opt.MaxPackets {
				t.Fatalf("written %d", st.Written)
			}
			if tc.opt.MaxBytes > 0 && int64(len(out)) > tc.opt.MaxBytes {
				t.Fatalf("%d bytes over limit %d", len(out), tc.opt.MaxBytes)
			}
			if tc.opt.NoRTPPayload && st.Trimmed == 0 {
				t.Fatalf("no RTP packet trimmed: %+v", st)
			}
			if rows := tsharkFields(t, out, "frame.number"); rows != nil && int64(len(rows)) != st.Written {
				t.Fatalf("tshark read %d packets, Run wrote %d", len(rows), st.Written)
			}
		})
	}
}

func TestLiveAllInterfaces(t *testing.T) {
	testutil.NeedRoot(t) // AF_PACKET sockets
	stop, _ := liveRun(t, Options{Filter: DefaultFilter(), BufferSize: 4 << 20})
	st, out, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := readBack(t, out)
	if r.NInterfaces() == 0 || st.PerInterface["lo"].LinkType == "" {
		t.Fatalf("interfaces %d, stats %+v", r.NInterfaces(), st.PerInterface)
	}
	for i := range r.NInterfaces() {
		intf, _ := r.Interface(i)
		if st.PerInterface[intf.Name].Index != i {
			t.Errorf("interface %d %q: stats index %d", i, intf.Name, st.PerInterface[intf.Name].Index)
		}
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), io.Discard, Options{Interfaces: []string{"no-such-if0"}, Filter: DefaultFilter()}, nil); err == nil {
		t.Error("unknown interface accepted")
	}
	if _, err := Run(context.Background(), io.Discard, Options{Filter: Filter{}}, nil); err == nil {
		t.Error("empty filter accepted")
	}
	if os.Geteuid() == 0 {
		return
	}
	_, err := Run(context.Background(), io.Discard, Options{Interfaces: []string{"lo"}, Filter: DefaultFilter()}, nil)
	if !errors.Is(err, ErrPermission) {
		t.Errorf("unprivileged Run: %v, want ErrPermission", err)
	}
}

// TestRingBlock parses a hand-made TPACKET_V3 block: packets are used in
// place in the ring, a VLAN tag the kernel took off is put back, and the
// loopback's outgoing copy is dropped.
func TestRingBlock(t *testing.T) {
	ne := binary.NativeEndian
	r := &ring{mem: make([]byte, maxBlockSize), blocks: 1, bsize: maxBlockSize, loopback: true, index: 3}
	sip := frame(layers.LinkTypeEthernet, false, ip4(addrA, addrB, 17, 0, 0, l4(17, 40000, 5060)))
	const mac = 80
	type in struct {
		pkttype byte
		status  uint32
		tci     uint32
	}
	pkts := []in{
		{pkttype: 0}, // PACKET_HOST
		{pkttype: 0, status: 0x10 | 0x40, tci: 42}, // VLAN and TPID valid
		{pkttype: 4}, // PACKET_OUTGOING
		{pkttype: 1}, // PACKET_BROADCAST
	}
	off := 48
	binary.NativeEndian.PutUint32(r.mem[bdFirstOffset:], uint32(off))
	binary.NativeEndian.PutUint32(r.mem[bdNumPkts:], uint32(len(pkts)))
	step := (mac + len(sip) + 15) &^ 15
	for i, p := range pkts {
		h := r.mem[off:]
		if i < len(pkts)-1 {
			ne.PutUint32(h[phNext:], uint32(step))
		}
		ne.PutUint32(h[phSec:], 1700000000+uint32(i))
		ne.PutUint32(h[phNsec:], 5)
		ne.PutUint32(h[phSnaplen:], uint32(len(sip)))
		ne.PutUint32(h[phLen:], uint32(len(sip)))
		ne.PutUint32(h[phStatus:], p.status)
		ne.PutUint16(h[phMac:], mac)
		ne.PutUint32(h[phVLANTCI:], p.tci)
		ne.PutUint16(h[phVLANTPI:], 0x88a8)
		h[sllPkt] = p.pkttype
		copy(h[mac:], sip)
		off += step
	}
	binary.NativeEndian.PutUint32(r.mem[bdLen:], uint32(off))
	b := r.block(0)
	if b.dropped != 1 || len(b.pkts) != 3 {
		t.Fatalf("%d packets, %d dropped", len(b.pkts), b.dropped)
	}
	p := b.pkts[0]
	if !bytes.Equal(p.data, sip) || &p.data[0] != &r.mem[48+mac] {
		t.Errorf("packet 0 is not used in place")
	}
	if p.ts != 1700000000*1e9+5 || p.iface != 3 || p.dir != dirIn || p.reception != pcapgo.NgEpbFlagReceptionTypeUnicast || p.length != len(sip) {
		t.Errorf("packet 0: %+v", p)
	}
	p = b.pkts[1]
	want := append(append(append([]byte{}, sip[:12]...), 0x88, 0xa8, 0, 42), sip[12:]...)
	if !bytes.Equal(p.data, want) || p.length != len(sip)+4 {
		t.Errorf("VLAN packet: %x (length %d)", p.data, p.length)
	}
	if p = b.pkts[2]; p.reception != pcapgo.NgEpbFlagReceptionTypeBroadcast || p.ts != 1700000003*1e9+5 {
		t.Errorf("packet 3: %+v", p)
	}
}

// FuzzRingBlock feeds arbitrary bytes to the TPACKET_V3 block parser: it
// must stay inside the block whatever the headers say.
func FuzzRingBlock(f *testing.F) {
	seed := make([]byte, 256)
	binary.NativeEndian.PutUint32(seed[bdNumPkts:], 2)
	binary.NativeEndian.PutUint32(seed[bdFirstOffset:], 48)
	binary.NativeEndian.PutUint32(seed[bdLen:], 200)
	binary.NativeEndian.PutUint32(seed[48+phNext:], 96)
	binary.NativeEndian.PutUint32(seed[48+phSnaplen:], 20)
	binary.NativeEndian.PutUint16(seed[48+phMac:], 80)
	binary.NativeEndian.PutUint32(seed[48+phStatus:], 1<<5)
	f.Add(seed)
	r := &ring{mem: make([]byte, maxBlockSize), blocks: 1, bsize: maxBlockSize}
	last := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		clear(r.mem[:last])
		last = copy(r.mem, data)
		b := r.block(0)
		for _, p := range b.pkts {
			if p.length < 0 || len(p.data) > maxBlockSize+4 {
				t.Fatalf("packet of %d bytes", len(p.data))
			}
		}
	})
}

// TestLiveBurst sends an unpaced burst over loopback: every datagram must be
// in the output once, with no kernel drops.
func TestLiveBurst(t *testing.T) {
	testutil.NeedRoot(t) // AF_PACKET sockets
	const n = 20000
	_, port := udpPort(t, 5066, 5066)
	sender, srcPort := udpPort(t, 40400, 40499)
	stop, _ := liveRun(t, Options{Interfaces: []string{"lo"}, Filter: DefaultFilter()})
	msg := make([]byte, 200)
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	t0 := time.Now()
	for range n {
		if _, err := sender.WriteToUDP(msg, dst); err != nil {
			t.Fatal(err)
		}
	}
	rate := float64(n) / time.Since(t0).Seconds()
	st, out, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	ports, _ := udpPorts(t, bytes.NewReader(out))
	got := 0
	for _, p := range ports {
		if p[0] == srcPort && p[1] == port {
			got++
		}
	}
	t.Logf("%d datagrams at %.0f/s: captured %d, kernel dropped %d", n, rate, got, st.KernelDropped)
	if got != n || st.KernelDropped != 0 {
		t.Errorf("captured %d of %d, kernel dropped %d", got, n, st.KernelDropped)
	}
}

// TestLiveRTPHeaders sends RTP (with CSRC lists), RTCP and datagrams too
// short for RTP into the RTP range on loopback through a small ring with
// RTP payloads off: the kernel accepts the cutting filter, every datagram
// is recorded once, RTP exactly up to the end of its CSRC list with its
// original length and sequence number, everything else whole.
func TestLiveRTPHeaders(t *testing.T) {
	testutil.NeedRoot(t) // AF_PACKET sockets
	_, rtpPort := udpPort(t, 45000, 45100)
	sender, _ := udpPort(t, 40300, 40399)
	stop, _ := liveRun(t, Options{Interfaces: []string{"lo"}, Filter: DefaultFilter(), NoRTPPayload: true, BufferSize: 2 << 20})
	const nRTP = 60
	var sent [][]byte
	for i := range nRTP {
		p := make([]byte, 12+4*(i%4)+160)
		p[0] = 0x80 | byte(i%4)
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		sent = append(sent, p)
	}
	rtcp := make([]byte, 100)
	rtcp[0], rtcp[1] = 0x80, 200
	sent = append(sent, rtcp, []byte{0x80, 0, 0, 1, 2}, []byte{0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, p := range sent {
		if _, err := sender.WriteToUDP(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: rtpPort}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	st, out, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(out), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		payload, _, dst, ok := udpPayload(layers.LinkTypeEthernet, data)
		if !ok || int(dst) != rtpPort {
			continue
		}
		if got >= len(sent) {
			t.Fatalf("more datagrams recorded than sent")
		}
		want := sent[got]
		keep := len(want)
		if got < nRTP {
			keep = 12 + 4*(got%4)
		}
		if ci.Length != payload+len(want) || len(data) != payload+keep || !bytes.Equal(data[payload:], want[:keep]) {
			t.Errorf("datagram %d: recorded %d of %d bytes, payload % x; want %d of %d, % x",
				got, len(data), ci.Length, data[payload:], payload+keep, payload+len(want), want[:keep])
		}
		got++
	}
	if got != len(sent) || st.KernelDropped != 0 {
		t.Fatalf("recorded %d of %d datagrams, kernel drops %d", got, len(sent), st.KernelDropped)
	}
	if st.Trimmed != nRTP {
		t.Errorf("Trimmed %d, want %d", st.Trimmed, nRTP)
	}
}
