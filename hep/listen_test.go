package hep

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

type memSink struct {
	mu   sync.Mutex
	pkts []gopacket.Packet
	ts   []time.Time
}

func (s *memSink) WriteHEP(ts time.Time, pkt []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, gopacket.NewPacket(append([]byte(nil), pkt...), layers.LayerTypeIPv4, gopacket.Default))
	s.ts = append(s.ts, ts)
	return nil
}

func (s *memSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pkts)
}

func startListener(t *testing.T, opt Options) (*Listener, func()) {
	t.Helper()
	opt.Stream, opt.Datagram = "127.0.0.1:0", "127.0.0.1:0"
	l, err := Listen(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Serve(ctx); close(done) }()
	return l, func() { cancel(); <-done }
}

// waitCounts polls until the listener has seen n messages (no timing is
// asserted; the test's own deadline bounds the wait).
func waitCounts(t *testing.T, l *Listener, n int64) Counts {
	t.Helper()
	for l.Counts().Received+l.Counts().Refused < n {
		time.Sleep(5 * time.Millisecond)
	}
	return l.Counts()
}

func TestListenerRecordsOriginalAddresses(t *testing.T) {
	sink := &memSink{}
	var teed [][]byte
	var teeMu sync.Mutex
	l, stop := startListener(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AuthKey: "k1", Sink: sink,
		Tee: func(b []byte) { teeMu.Lock(); teed = append(teed, append([]byte(nil), b...)); teeMu.Unlock() }})
	defer stop()

	good := sample()
	good.AuthKey = "k1"
	gb, _ := Encode(good)
	wrong := sample()
	wrong.AuthKey = "nope"
	wb, _ := Encode(wrong)
	udp := sample()
	udp.Proto, udp.AuthKey = 17, "k1"
	ub, _ := Encode(udp)

	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Two good messages, one with a wrong key, one with a broken chunk
	// (framing intact), then a frame with bad magic that ends the stream.
	broken := handV3(ch(1, 2), []byte{0, 0, 0, 15, 0, 2})
	for _, b := range [][]byte{gb, gb, wb, broken, []byte("XXXX\x00\x10garbage...")} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	waitCounts(t, l, 5) // TCP first, so the sink's order is known
	u, err := net.Dial("udp", l.UDPAddrs()[1].String())
	if err != nil {
		t.Fatal(err)
	}
	u.Write(ub)
	u.Write([]byte("HEP3\x00\x07x"))
	got := waitCounts(t, l, 7)
	c.Close()
	want := Counts{Received: 7, Accepted: 3, Malformed: 3, Unauthorised: 1}
	if got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if sink.len() != 3 || len(teed) != 3 {
		t.Fatalf("sink has %d packets, tee %d messages; want 3", sink.len(), len(teed))
	}
	for i, p := range sink.pkts {
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.SrcIP.String() != "192.0.2.10" || ip.DstIP.String() != "198.51.100.7" {
			t.Errorf("packet %d: addresses %s > %s", i, ip.SrcIP, ip.DstIP)
		}
		if !sink.ts[i].Equal(good.Time) {
			t.Errorf("packet %d: time %s, want %s", i, sink.ts[i], good.Time)
		}
		app := p.ApplicationLayer()
		if app == nil || string(app.Payload()) != string(sipInvite) {
			t.Errorf("packet %d: payload not the SIP message", i)
		}
	}
	t1 := sink.pkts[0].Layer(layers.LayerTypeTCP).(*layers.TCP)
	t2 := sink.pkts[1].Layer(layers.LayerTypeTCP).(*layers.TCP)
	if t1.SrcPort != 5061 || t1.DstPort != 40123 || t2.Seq != t1.Seq+uint32(len(sipInvite)) {
		t.Errorf("TCP ports %d>%d, seq %d then %d", t1.SrcPort, t1.DstPort, t1.Seq, t2.Seq)
	}
	if sink.pkts[2].Layer(layers.LayerTypeUDP) == nil {
		t.Error("UDP message not rebuilt as UDP")
	}
}

func TestListenerRefusesOtherSources(t *testing.T) {
	sink := &memSink{}
	l, stop := startListener(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")}, Sink: sink})
	defer stop()
	b, _ := Encode(sample())
	u, err := net.Dial("udp", l.UDPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		u.Write(b)
	}
	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write(b)
	// UDP datagrams can be lost under load; wait for the TCP refusal and
	// at least one datagram, then check nothing was accepted.
	for l.Counts().Refused < 1 || l.Counts().Unauthorised < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	if got := l.Counts(); got.Accepted != 0 || sink.len() != 0 || got.Unauthorised != got.Received {
		t.Fatalf("counts %+v, sink %d", got, sink.len())
	}
}

func TestListenerMaxConns(t *testing.T) {
	l, stop := startListener(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxConns: 1, Sink: &memSink{}})
	defer stop()
	a, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := Encode(sample())
	a.Write(b)
	waitCounts(t, l, 1) // the first connection is being served
	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for l.Counts().Refused < 1 {
		time.Sleep(5 * time.Millisecond)
	}
}
